"""Replayed dead letters and what became of them (docs/architecture.md#dead-letter-redrive).

`seamwatch redrive` records each replay in `redrives`: the dead letter, the target and where the
replay landed. Whether the group then processed it is read from what the collectors stored:

- ``failed again``: a dead letter whose origin headers name the replay's position, or that
  carries the replay's provenance header (Spring keeps the record's headers), or a processing
  span of the replay that ended in error;
- ``processed``: a processing span of the replay without error, or (the group being known) a
  committed offset of the group past the replay, with no dead letter from it;
- ``not reached``: neither yet;
- ``quarantined`` and ``in doubt`` (an intent a stopped run left) come from the ledger itself.

Replays since the window's start are listed, also those after its end: a capture's window ends
at its newest data, and a replay made after it is still the user's latest action.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from collectors.normalize.deadletter import PROVENANCE
from dashboard.analyses.window import Window

OUTCOMES = ("failed again", "in doubt", "quarantined", "not reached", "processed")

_REDRIVES = r"""
WITH r AS (
    SELECT dlt_topic, dlt_partition, dlt_offset, state, target_topic, grp, replay_count, target_partition,
           target_offset, reason, coalesce(done_at, intent_at) AS redriven_at,
           dlt_topic || '/' || dlt_partition || '/' || dlt_offset AS dead_letter
    FROM redrives
    WHERE coalesce(done_at, intent_at) >= $start
),
again AS (
    SELECT r.dead_letter, min(d.topic || '/' || d."partition" || '/' || d."offset") AS new_dead_letter
    FROM r JOIN records d ON d.is_dead_letter AND (
        (d.dlt_origin_topic = r.target_topic AND d.dlt_origin_partition = r.target_partition
         AND d.dlt_origin_offset = r.target_offset)
        OR contains(d.headers, '["' || $provenance || '", "' || r.dead_letter || '"]'))
    WHERE r.state = 'done'
    GROUP BY ALL
),
processed AS (
    SELECT r.dead_letter, bool_or(p.status_code = 2) AS failed, bool_or(p.status_code IS DISTINCT FROM 2) AS ok
    FROM r JOIN processings p ON p.topic = r.target_topic AND p."partition" = r.target_partition
                              AND p."offset" = r.target_offset AND (r.grp IS NULL OR p.grp = r.grp)
    WHERE r.state = 'done'
    GROUP BY ALL
),
passed AS (
    SELECT r.dead_letter
    FROM r JOIN group_offsets g ON g.group_id = r.grp AND g.topic = r.target_topic
                                AND g."partition" = r.target_partition AND g.committed_offset > r.target_offset
    WHERE r.state = 'done'
    GROUP BY ALL
)
SELECT r.dead_letter, r.dlt_topic, r.dlt_partition, r.dlt_offset, r.target_topic, r.target_partition,
       r.target_offset,
       CASE WHEN r.target_offset IS NOT NULL
            THEN r.target_topic || '/' || r.target_partition || '/' || r.target_offset END AS replay,
       r.grp AS "group", r.replay_count, r.redriven_at, r.reason,
       CASE WHEN r.state = 'quarantined' THEN 'quarantined'
            WHEN r.state = 'intent' THEN 'in doubt'
            WHEN a.dead_letter IS NOT NULL OR coalesce(p.failed, false) THEN 'failed again'
            WHEN coalesce(p.ok, false) OR s.dead_letter IS NOT NULL THEN 'processed'
            ELSE 'not reached' END AS outcome,
       a.new_dead_letter
FROM r
LEFT JOIN again a USING (dead_letter)
LEFT JOIN processed p USING (dead_letter)
LEFT JOIN passed s USING (dead_letter)
ORDER BY r.redriven_at, r.dlt_topic, r.dlt_partition, r.dlt_offset
"""


def redrives(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """One row per dead letter the ledger knows (replayed, quarantined or in doubt), with its outcome."""
    return con.execute(_REDRIVES, {"start": window.start, "provenance": PROVENANCE}).df()
