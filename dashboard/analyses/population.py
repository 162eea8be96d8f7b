"""What was observed in a window, by kind: topics, consumer groups and services, the subjects a
design scorecard judges (docs/architecture.md#the-design-scorecard)."""

from __future__ import annotations

import duckdb

from dashboard.analyses import streams_internal
from dashboard.analyses.event_design import derived_topic
from dashboard.analyses.window import Window

_OBSERVED = """
SELECT 'topic' AS kind, topic AS name FROM records
WHERE coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
  AND NOT coalesce(is_dead_letter, false)
UNION
SELECT 'topic', destination FROM spans
WHERE start_time >= $start AND start_time < $end AND kind IN (4, 5) AND destination IS NOT NULL
UNION
SELECT 'processed_group', grp FROM processings WHERE start_time >= $start AND start_time < $end AND grp IS NOT NULL
UNION
SELECT 'group', group_id FROM group_offsets WHERE polled_at >= $start AND polled_at < $end
UNION
SELECT CASE kind WHEN 4 THEN 'publisher' ELSE 'service' END, service FROM spans
WHERE start_time >= $start AND start_time < $end AND kind IN (2, 4) AND service IS NOT NULL
"""


def observed(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, set[str]]:
    """kind → the names seen in the window: topics, groups (by their processings or their committed
    offsets), processed groups (those whose processing was seen: consumer spans), services (with
    SERVER or PRODUCER spans) and publishers (services with PRODUCER spans); dead-letter and retry
    topics, whose design is their origin's, are left out."""
    out: dict[str, set[str]] = {"topic": set(), "group": set(), "processed_group": set(), "service": set(),
                                "publisher": set()}
    for kind, name in con.execute(_OBSERVED, {"start": window.start, "end": window.end}).fetchall():
        if name is not None and not (kind == "topic" and derived_topic(name)):
            out[kind].add(name)
    out["topic"] -= streams_internal.apps(con, out["topic"], window).keys()
    out["service"] |= out["publisher"]
    out["group"] |= out["processed_group"]
    return out
