"""Request–reply over topics (docs/architecture.md#request-reply-over-events): a request handler that
publishes and then waits for an answer on another topic, a synchronous call with a queue's latency.

Per SERVER span: a PRODUCER span under it and, starting after that, a CONSUMER or receive span
of the same service on another topic, both reached from the SERVER span without crossing an
asynchronous boundary (a PRODUCER or CONSUMER span between), and the reply read before the
request answered. The reply must be correlated with the request: through the trace (the
responder continued it and published to the reply topic), through the records (the reply
carries the request's correlation id, or names the request's event id as its cause), or
through a reply-to header on the request naming the reply topic.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

MARGIN = timedelta(hours=1)

_WAITS = r"""
WITH RECURSIVE p AS (
    SELECT trace_id, span_id, from_service AS service, to_service AS topic, start_time
    FROM segment_edges
    WHERE edge = 'send' AND start_time >= $start AND start_time < $end AND to_service IS NOT NULL
), r AS (  -- reads of another topic by the publishing service, after the publication, in the same trace
    SELECT s.trace_id, s.span_id, s.service, s.destination AS topic, s.start_time, s.end_time
    FROM spans s
    WHERE s.start_time >= $start AND s.start_time < $until AND s.destination IS NOT NULL
      AND (s.kind = 5 OR s.operation_type = 'receive')
      AND s.trace_id IN (SELECT trace_id FROM p)
    QUALIFY row_number() OVER (PARTITION BY s.trace_id, s.span_id ORDER BY s.ingested_at) = 1
), pairs AS (
    SELECT p.trace_id, p.span_id AS p_span, p.topic AS request_topic, p.start_time AS published_at,
           r.span_id AS r_span, r.topic AS reply_topic, r.end_time AS replied_at, p.service
    FROM p JOIN r ON r.trace_id = p.trace_id AND r.service = p.service AND r.topic <> p.topic
     AND r.start_time >= p.start_time
), sp AS (
    SELECT trace_id, span_id, parent_span_id, kind, service, name, start_time, end_time, destination,
           "partition", "offset", message_id
    FROM spans
    WHERE start_time >= $since AND start_time < $until AND trace_id IN (SELECT trace_id FROM pairs)
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY ingested_at) = 1
), up AS (  -- from each end of a pair up to its SERVER span, never across a PRODUCER or CONSUMER span
    SELECT trace_id, span_id AS origin, span_id, parent_span_id, kind, 0 AS steps
    FROM sp WHERE (trace_id, span_id) IN (SELECT (trace_id, p_span) FROM pairs UNION SELECT (trace_id, r_span) FROM pairs)
    UNION ALL
    SELECT u.trace_id, u.origin, s.span_id, s.parent_span_id, s.kind, u.steps + 1
    FROM up u JOIN sp s ON s.trace_id = u.trace_id AND s.span_id = u.parent_span_id
    WHERE u.steps < 200 AND (u.steps = 0 OR coalesce(u.kind, 0) NOT IN (2, 4, 5))
), server_of AS (
    SELECT trace_id, origin, span_id AS server FROM up WHERE steps > 0 AND kind = 2
), waits AS (
    SELECT pr.*, v.span_id AS server_span, v.name AS request, v.start_time AS request_start,
           v.end_time AS request_end, q."partition" AS p_partition, q."offset" AS p_offset,
           q.message_id AS p_message, a."partition" AS r_partition, a."offset" AS r_offset, a.message_id AS r_message
    FROM pairs pr
    JOIN server_of sp1 ON sp1.trace_id = pr.trace_id AND sp1.origin = pr.p_span
    JOIN server_of sp2 ON sp2.trace_id = pr.trace_id AND sp2.origin = pr.r_span AND sp2.server = sp1.server
    JOIN sp v ON v.trace_id = pr.trace_id AND v.span_id = sp1.server AND v.service = pr.service
    JOIN sp q ON q.trace_id = pr.trace_id AND q.span_id = pr.p_span
    JOIN sp a ON a.trace_id = pr.trace_id AND a.span_id = pr.r_span
    WHERE v.end_time >= pr.replied_at
    QUALIFY row_number() OVER (PARTITION BY pr.trace_id, pr.p_span ORDER BY pr.replied_at) = 1
), rec AS (
    SELECT topic, "partition", "offset", event_id, correlation_id, causation_id, headers FROM records
    WHERE coalesce("timestamp", tapped_at) >= $since AND coalesce("timestamp", tapped_at) < $until
      AND topic IN (SELECT request_topic FROM waits UNION SELECT reply_topic FROM waits)
), judged AS (
    SELECT w.*,
        EXISTS (SELECT 1 FROM segment_edges e WHERE e.edge = 'send' AND e.trace_id = w.trace_id
                AND e.to_service = w.reply_topic AND e.start_time >= $since AND e.start_time < $until) AS by_trace,
        coalesce(rq.correlation_id = rp.correlation_id OR rp.causation_id = rq.event_id, false) AS by_ids,
        coalesce(regexp_matches(rq.headers, '"[^"]*reply[-_.]?(to|topic)[^"]*"\s*,\s*"' || regexp_escape(w.reply_topic) || '"', 'i'),
                 false) AS by_header
    FROM waits w
    LEFT JOIN rec rq ON rq.topic = w.request_topic
     AND ((rq."partition" = w.p_partition AND rq."offset" = w.p_offset) OR rq.event_id = w.p_message)
    LEFT JOIN rec rp ON rp.topic = w.reply_topic
     AND ((rp."partition" = w.r_partition AND rp."offset" = w.r_offset) OR rp.event_id = w.r_message)
    QUALIFY row_number() OVER (PARTITION BY w.trace_id, w.p_span ORDER BY rq.topic NULLS LAST, rp.topic NULLS LAST) = 1
)
SELECT trace_id, server_span, service, request, request_topic, reply_topic, published_at, replied_at,
       date_diff('microsecond', published_at, replied_at) / 1e3 AS wait_ms,
       date_diff('microsecond', request_start, request_end) / 1e3 AS request_ms,
       concat_ws(', ', CASE WHEN by_trace THEN 'trace' END, CASE WHEN by_ids THEN 'correlation id' END,
                 CASE WHEN by_header THEN 'reply-to header' END) AS correlated_by
FROM judged
WHERE by_trace OR by_ids OR by_header
ORDER BY published_at
"""


def reply_waits(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Requests in the window that published and then waited, in the same handler, for a
    correlated reply on another topic: one row per request, with the wait (publication to
    reply read) and the request's whole duration, in ms."""
    return con.execute(_WAITS, {"start": window.start, "end": window.end, "since": window.start - MARGIN,
                                "until": window.end + MARGIN}).df()
