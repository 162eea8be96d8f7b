"""Where synchronous calls couple what events should decouple (docs/architecture.md#event-design-audit), from derived edges.

- side-effect calls: a user-facing request (a trace's root SERVER segment) waits on a
  service the topology marks as a side effect, which should react to an event instead;
- callbacks: a consumer's process segment calls the producer of the event it handles
  (the event lacks the context the consumer needs);
- reply waits: a topic with one consumer group whose processing publishes a reply the
  original producer consumes while the request that published is still open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

CALLBACK_SHARE = 0.5  # "most events": more than half of a group's processings call back
CALLBACK_MIN_EVENTS = 5  # fewer processings than this say nothing about a habit
MARGIN = timedelta(hours=1)  # how far before the window a segment may start and still hold an edge in it

_SIDE_EFFECT_CALLS = """
SELECT from_service AS caller, to_service AS callee, operation, entry_service, entry_operation,
       count(*) AS calls, count(DISTINCT trace_id) AS traces,
       min(segment_start) AS first_seen, max(segment_start) AS last_seen,
       quantile_cont(duration_us, 0.95) / 1e3 AS p95_ms,
       list(DISTINCT trace_id ORDER BY trace_id) AS trace_ids
FROM segment_edges
WHERE edge = 'hop' AND start_time >= $start AND start_time < $end
  AND segment_cause = 'root' AND entry_kind IN (0, 2)
  AND list_contains($side_effects, to_service)
GROUP BY ALL
ORDER BY calls DESC, caller, callee
"""

# Per (group, topic): messages processed (derived with their paired producer), and how many
# processings called the message's producing service synchronously (collectors.derive counts it).
_CALLBACKS = """
SELECT consumer_group, topic, any_value(consumer_service) AS consumer_service, mode(producer_service) AS producer,
       count(*) AS processed,
       count(*) FILTER (WHERE callbacks > 0) AS called_back,
       count(*) FILTER (WHERE callbacks > 0) / count(*) AS share,
       coalesce(sum(callbacks) FILTER (WHERE callbacks > 0), 0) AS calls,
       mode(callback_operation) AS operation,
       min(process_start) FILTER (WHERE callbacks > 0) AS first_seen,
       max(process_start) FILTER (WHERE callbacks > 0) AS last_seen,
       list(consumer_trace_id ORDER BY consumer_trace_id) FILTER (WHERE callbacks > 0) AS trace_ids
FROM message_lag
WHERE process_start >= $start AND process_start < $end AND consumer_group IS NOT NULL
GROUP BY consumer_group, topic
ORDER BY share DESC, processed DESC, consumer_group, topic
"""

# Filters first (topics with one group, consumer segments that send), so all history stays cheap.
_REPLY_WAITS = """
WITH single AS (
    SELECT topic FROM (
        SELECT topic, consumer_group FROM message_lag
        WHERE process_start >= $start AND process_start < $end AND topic IS NOT NULL GROUP BY ALL
    ) GROUP BY topic HAVING count(*) = 1
), m1 AS (
    SELECT * FROM message_lag
    WHERE process_start >= $start AND process_start < $end AND producer_span_id IS NOT NULL
      AND segment_sends > 0 AND topic IN (SELECT topic FROM single)
), sends AS (
    SELECT trace_id, segment_span_id, span_id FROM segment_edges
    WHERE edge = 'send' AND start_time >= $start AND start_time < $end + $margin
      AND segment_span_id IN (SELECT consumer_span_id FROM m1)
), reply AS (
    SELECT m1.topic, m1.consumer_group, m1.consumer_service, m1.producer_service,
           m1.producer_trace_id, m1.producer_span_id, m2.topic AS reply_topic, m2.process_start AS reply_at
    FROM m1
    JOIN sends e ON e.trace_id = m1.consumer_trace_id AND e.segment_span_id = m1.consumer_span_id
    JOIN message_lag m2 ON m2.producer_trace_id = e.trace_id AND m2.producer_span_id = e.span_id
     AND m2.consumer_service = m1.producer_service
     AND m2.process_start >= $start AND m2.process_start < $end + $margin
), request AS (
    SELECT trace_id, segment_span_id, span_id FROM segment_edges
    WHERE edge = 'send' AND start_time >= $since AND start_time < $end
      AND span_id IN (SELECT producer_span_id FROM reply)
), waiting AS (
    SELECT r.*, s.entry_operation AS request
    FROM reply r
    JOIN request pe ON pe.trace_id = r.producer_trace_id AND pe.span_id = r.producer_span_id
    JOIN trace_segments s ON s.trace_id = pe.trace_id AND s.segment_span_id = pe.segment_span_id
     AND s.start_time >= $since AND s.start_time < $end
    WHERE s.end_time >= r.reply_at
)
SELECT topic, consumer_group, consumer_service, producer_service, reply_topic, request,
       count(*) AS waits, min(reply_at) AS first_seen, max(reply_at) AS last_seen,
       list(producer_trace_id ORDER BY reply_at) AS trace_ids
FROM waiting
GROUP BY ALL
ORDER BY waits DESC, topic
"""


def _p(window: Window, **extra: Any) -> dict[str, Any]:
    return {"start": window.start, "end": window.end, "since": window.start - MARGIN, **extra}


def side_effect_calls(con: duckdb.DuckDBPyConnection, window: Window, side_effects: list[str]) -> pd.DataFrame:
    """User-facing requests' synchronous calls into side-effect services, per (caller, callee, entry)."""
    return con.execute(_SIDE_EFFECT_CALLS, {"start": window.start, "end": window.end,
                                            "side_effects": list(side_effects)}).df()


def callbacks(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Per (group, topic): processings, and how many called the message's producer synchronously.

    The producer is the service whose span produced each message (paired by collectors.derive),
    so the rule holds without a declared topology.
    """
    return con.execute(_CALLBACKS, {"start": window.start, "end": window.end}).df()


def reply_waits(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Topics with one consumer group whose reply the producer consumed while its request was still open."""
    return con.execute(_REPLY_WAITS, _p(window, margin=MARGIN)).df()
