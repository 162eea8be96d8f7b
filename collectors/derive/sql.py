"""The SQL of the derivation (docs/architecture.md#the-derive-model and docs/architecture.md#synchronous-call-chain-depth and docs/architecture.md#event-lag), over the temp tables it builds.

`_batch(trace_id)` holds the traces being derived; `_bs` their spans (one row per span id);
`_bx` adds what each span's parent says about it (segment start, hop); `_walk` is the
recursive walk of every segment. The same `_bx`/`_walk` statements serve one trace at
page load (dashboard.analyses.call_chains.trace_chain), so a waterfall shows exactly the
structure the derived tables count.
"""

from __future__ import annotations

from collectors.derive.processings import DELIVERY_ATTEMPT

SPAN_COLUMNS = f"""
    s.trace_id, s.span_id, s.parent_span_id, s.service, s.name, s.kind, coalesce(s.flags, 0) AS flags,
    s.start_time, s.end_time, s.duration_us, s.status_code, s.messaging_system, s.destination,
    s.operation_type, s.consumer_group, s."partition", s."offset", s.message_id, s.http_route,
    s.http_method, s.db_system, s.db_operation, s.peer_service, s.links,
    s.service_instance, s.client_id, {DELIVERY_ATTEMPT} AS delivery_attempt
"""

# The spans of the batch's traces, bounded by the batch's time range so zone maps prune.
BATCH_SPANS_Q = f"""
SELECT {SPAN_COLUMNS}
FROM spans s
WHERE s.start_time >= ? AND s.start_time <= ?
  AND s.trace_id IN (SELECT trace_id FROM _batch)
QUALIFY row_number() OVER (PARTITION BY s.trace_id, s.span_id ORDER BY s.ingested_at) = 1
"""  # noqa: S608 (column list is a constant)
BATCH_SPANS = "CREATE OR REPLACE TEMP TABLE _bs AS " + BATCH_SPANS_Q

# Per span: does it start a segment, is it a hop (docs/architecture.md#synchronous-call-chain-depth)?
#   consumer:   CONSUMER kind (or kind missing and a process/receive operation)
#   after a producer: the parent is a PRODUCER span (or kind missing and a send/create operation)
#   hop:        SERVER under a non-messaging CLIENT of another service; where kinds are
#               missing, a remote parent (flags 0x100|0x200) of another service
CLASSIFY_Q = """
SELECT c.*,
    p.kind AS parent_kind,
    p.service AS parent_service,
    c.parent_span_id IS NOT NULL AND p.span_id IS NULL AS orphan,
    coalesce(c.kind = 5 OR (c.kind = 0 AND c.operation_type IN ('process', 'receive')), false) AS is_consumer,
    coalesce(p.kind = 4 OR (p.kind = 0 AND p.operation_type IN ('send', 'create')), false) AS after_producer,
    coalesce(c.kind = 4 OR (c.kind = 0 AND c.operation_type IN ('send', 'create')), false) AS is_producer,
    coalesce(c.parent_span_id IS NULL OR p.span_id IS NULL
        OR c.kind = 5 OR (c.kind = 0 AND c.operation_type IN ('process', 'receive'))
        OR p.kind = 4 OR (p.kind = 0 AND p.operation_type IN ('send', 'create')), false
    ) AS starts_segment,
    coalesce(
        c.service IS DISTINCT FROM p.service
        AND c.messaging_system IS NULL AND p.messaging_system IS NULL
        AND (
            (c.kind = 2 AND p.kind = 3)
            OR ((c.kind = 0 OR (c.kind = 2 AND p.kind = 0)) AND (c.flags & 768) = 768)
        ),
        false
    ) AS is_hop
FROM _bs c
LEFT JOIN _bs p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
"""
CLASSIFY = "CREATE OR REPLACE TEMP TABLE _bx AS " + CLASSIFY_Q

# Walk each segment from its entry down, carrying the hop depth and the deepest path.
# `node` is the nearest hop (or the entry) above a span: hops sharing one `up_node` are the
# fan-out of one request. Segment starts are never descended into (they are their own roots).
WALK_Q = """
WITH RECURSIVE walk AS (
    SELECT trace_id, span_id, span_id AS seg, 0 AS depth, span_id AS node, NULL::VARCHAR AS up_node,
           [service] AS path, [span_id] AS path_ids, duration_us AS lat, 0 AS steps
    FROM _bx WHERE starts_segment
    UNION ALL
    SELECT c.trace_id, c.span_id, w.seg,
           w.depth + CASE WHEN c.is_hop THEN 1 ELSE 0 END,
           CASE WHEN c.is_hop THEN c.span_id ELSE w.node END,
           w.node,
           CASE WHEN c.is_hop THEN list_append(w.path, c.service) ELSE w.path END,
           CASE WHEN c.is_hop THEN list_append(w.path_ids, c.span_id) ELSE w.path_ids END,
           w.lat + CASE WHEN c.is_hop THEN c.duration_us ELSE 0 END,
           w.steps + 1
    FROM walk w
    JOIN _bx c ON c.trace_id = w.trace_id AND c.parent_span_id = w.span_id
    WHERE NOT c.starts_segment AND w.steps < 1000
)
SELECT w.trace_id, w.span_id, w.seg, w.depth, w.node, w.up_node, w.path, w.path_ids, w.lat,
       x.is_hop, x.kind, x.service, x.parent_service, x.status_code, x.messaging_system,
       x.is_producer, x.name, x.http_route, x.destination, x.db_system, x.peer_service,
       x.parent_span_id, x.start_time, x.duration_us
FROM walk w JOIN _bx x USING (trace_id, span_id)
"""
WALK = "CREATE OR REPLACE TEMP TABLE _walk AS " + WALK_Q

# CLIENT spans that are not messaging calls and have no SERVER hop under them: DB calls and
# calls into uninstrumented services. Shown, never counted as hops.
LEAVES = """
CREATE OR REPLACE TEMP TABLE _leaf AS
SELECT w.* FROM _walk w
WHERE w.kind = 3 AND w.messaging_system IS NULL
  AND NOT EXISTS (SELECT 1 FROM _bx h WHERE h.is_hop AND h.trace_id = w.trace_id AND h.parent_span_id = w.span_id)
"""

INSERT_SEGMENTS = """
INSERT INTO trace_segments
WITH agg AS (
    SELECT trace_id, seg, max(depth) AS depth, count(*) AS span_count,
           count(*) FILTER (WHERE is_hop) AS hops, count(*) FILTER (WHERE status_code = 2) AS error_spans
    FROM _walk GROUP BY trace_id, seg
), best AS (
    SELECT trace_id, seg, path, path_ids, lat FROM _walk
    QUALIFY row_number() OVER (PARTITION BY trace_id, seg ORDER BY depth DESC, lat DESC, span_id) = 1
), fan AS (
    SELECT trace_id, seg, max(n) AS fan_out FROM (
        SELECT trace_id, seg, up_node, count(*) AS n FROM _walk WHERE is_hop GROUP BY trace_id, seg, up_node
    ) GROUP BY trace_id, seg
), leaves AS (
    SELECT trace_id, seg, count(*) AS n FROM _leaf GROUP BY trace_id, seg
)
SELECT e.trace_id, e.span_id,
       CASE WHEN e.is_consumer THEN 'consumer' WHEN e.parent_span_id IS NULL THEN 'root'
            WHEN e.after_producer THEN 'after_producer' ELSE 'orphan' END,
       e.service, e.name, e.kind,
       CASE WHEN e.is_consumer THEN e.consumer_group END,
       CASE WHEN e.is_consumer THEN e.destination END,
       a.depth, b.path, b.path_ids, b.lat, coalesce(f.fan_out, 0), a.hops, coalesce(l.n, 0),
       a.span_count, a.error_spans, e.duration_us, e.start_time, e.end_time
FROM _bx e
JOIN agg a ON a.trace_id = e.trace_id AND a.seg = e.span_id
JOIN best b ON b.trace_id = e.trace_id AND b.seg = e.span_id
LEFT JOIN fan f ON f.trace_id = e.trace_id AND f.seg = e.span_id
LEFT JOIN leaves l ON l.trace_id = e.trace_id AND l.seg = e.span_id
WHERE e.starts_segment
ORDER BY e.start_time
"""

INSERT_EDGES = """
INSERT INTO segment_edges
WITH entry AS (
    SELECT trace_id, span_id AS seg,
           CASE WHEN is_consumer THEN 'consumer' WHEN parent_span_id IS NULL THEN 'root'
                WHEN after_producer THEN 'after_producer' ELSE 'orphan' END AS segment_cause,
           kind AS entry_kind, service AS entry_service, name AS entry_operation, start_time AS segment_start
    FROM _bx WHERE starts_segment
)
SELECT x.trace_id, x.seg, x.span_id, x.parent_span_id, x.edge, x.from_service, x.to_service, x.operation, x.depth,
       x.start_time, x.duration_us, e.segment_cause, e.entry_kind, e.entry_service, e.entry_operation,
       e.segment_start
FROM (
    SELECT *, 'hop' AS edge, parent_service AS from_service, service AS to_service,
           name AS operation FROM _walk WHERE is_hop
    UNION ALL BY NAME
    SELECT *, 'send' AS edge, service AS from_service, destination AS to_service, name AS operation
    FROM _walk WHERE is_producer
    UNION ALL BY NAME
    SELECT *, 'leaf' AS edge, service AS from_service,
           coalesce(peer_service, db_system, name) AS to_service, name AS operation FROM _leaf
) x
JOIN entry e ON e.trace_id = x.trace_id AND e.seg = x.seg
ORDER BY x.start_time
"""

INSERT_FACTS = """
INSERT INTO trace_facts
WITH seg AS (
    SELECT trace_id, max(depth) AS max_depth, count(*) AS segments FROM trace_segments
    WHERE trace_id IN (SELECT trace_id FROM _batch) AND start_time >= ? AND start_time <= ?
    GROUP BY trace_id
), root AS (
    SELECT trace_id, span_id, service, name AS operation FROM _bs
    QUALIFY row_number() OVER (PARTITION BY trace_id ORDER BY parent_span_id IS NOT NULL, start_time, span_id) = 1
), spans_agg AS (
    SELECT trace_id, count(*) AS n, count(DISTINCT service) AS services,
           count(*) FILTER (WHERE status_code = 2) AS errors, min(start_time) AS t0, max(end_time) AS t1
    FROM _bs GROUP BY trace_id
)
SELECT s.trace_id, r.span_id, r.service, r.operation, coalesce(g.max_depth, 0), coalesce(g.segments, 0),
       s.n, s.services, s.errors, s.t0, s.t1, date_diff('microsecond', s.t0, s.t1), ?
FROM spans_agg s
JOIN root r USING (trace_id)
LEFT JOIN seg g USING (trace_id)
ORDER BY s.t0
"""

# Each message a consumer span processed: one row, or one per link of a batch span.
MESSAGES = """
CREATE OR REPLACE TEMP TABLE _msg AS
WITH consumers AS (
    SELECT * FROM _bx WHERE is_consumer AND coalesce(operation_type, 'process') <> 'settle'
), linked AS (
    SELECT trace_id, span_id, unnest(links) AS link, generate_subscripts(links, 1) AS link_index,
           len(links) AS n_links
    FROM consumers WHERE len(links) > 0
)
SELECT c.trace_id, c.span_id, c.service, c.consumer_group, c.parent_span_id, c.start_time,
       l.link_index, l.link.trace_id AS link_trace, l.link.span_id AS link_span,
       coalesce(json_extract_string(l.link.attributes, '$."messaging.destination.name"'),
                json_extract_string(l.link.attributes, '$."messaging.destination"'), c.destination) AS topic,
       coalesce(TRY_CAST(coalesce(
                    json_extract_string(l.link.attributes, '$."messaging.destination.partition.id"'),
                    json_extract_string(l.link.attributes, '$."messaging.kafka.destination.partition"'),
                    json_extract_string(l.link.attributes, '$."messaging.kafka.partition"')) AS INTEGER),
                CASE WHEN coalesce(l.n_links, 1) = 1 THEN c."partition" END) AS "partition",
       coalesce(TRY_CAST(coalesce(
                    json_extract_string(l.link.attributes, '$."messaging.kafka.offset"'),
                    json_extract_string(l.link.attributes, '$."messaging.kafka.message.offset"')) AS BIGINT),
                CASE WHEN coalesce(l.n_links, 1) = 1 THEN c."offset" END) AS "offset",
       coalesce(json_extract_string(l.link.attributes, '$."messaging.message.id"'),
                CASE WHEN coalesce(l.n_links, 1) = 1 THEN c.message_id END) AS message_id
FROM consumers c
LEFT JOIN linked l USING (trace_id, span_id)
"""

# Producer-side spans that may be paired, bounded in time (a pairing horizon back from the batch).
PRODUCERS = """
CREATE OR REPLACE TEMP TABLE _prod AS
SELECT trace_id, span_id, service, start_time, destination, "partition", "offset", message_id
FROM spans
WHERE start_time >= ? AND start_time <= ?
  AND (kind = 4 OR (kind = 0 AND operation_type IN ('send', 'create')))
QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY ingested_at) = 1
"""

RECORDS = """
CREATE OR REPLACE TEMP TABLE _rec AS
SELECT topic, "partition", "offset", "timestamp", trace_id, parent_span_id
FROM records
WHERE "timestamp" >= ? AND "timestamp" <= ?
  AND topic IN (SELECT DISTINCT topic FROM _msg WHERE topic IS NOT NULL)
QUALIFY row_number() OVER (PARTITION BY topic, "partition", "offset" ORDER BY cluster, tapped_at) = 1
"""

# Pairing in docs/architecture.md#event-lag order: link, parent, record traceparent, (topic, partition, offset), message id.
INSERT_LAG = """
INSERT INTO message_lag
WITH by_offset AS (
    SELECT * FROM _prod WHERE "offset" IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY destination, "partition", "offset" ORDER BY start_time, span_id) = 1
), by_id AS (
    SELECT * FROM _prod WHERE message_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY start_time, span_id) = 1
), paired AS (
    SELECT m.*,
        CASE WHEN p1.span_id IS NOT NULL THEN 'link'
             WHEN p2.span_id IS NOT NULL THEN 'parent'
             WHEN p3.span_id IS NOT NULL THEN 'traceparent'
             WHEN p4.span_id IS NOT NULL THEN 'offset'
             WHEN p5.span_id IS NOT NULL THEN 'message_id' END AS pairing,
        coalesce(
            CASE WHEN p1.span_id IS NOT NULL THEN p1 END, CASE WHEN p2.span_id IS NOT NULL THEN p2 END,
            CASE WHEN p3.span_id IS NOT NULL THEN p3 END, CASE WHEN p4.span_id IS NOT NULL THEN p4 END,
            CASE WHEN p5.span_id IS NOT NULL THEN p5 END) AS p
    FROM _msg m
    LEFT JOIN _prod p1 ON p1.trace_id = m.link_trace AND p1.span_id = m.link_span
    LEFT JOIN _prod p2 ON p2.trace_id = m.trace_id AND p2.span_id = m.parent_span_id
    LEFT JOIN _rec r ON r.topic = m.topic AND r."partition" = m."partition" AND r."offset" = m."offset"
    LEFT JOIN _prod p3 ON p3.trace_id = r.trace_id AND p3.span_id = r.parent_span_id
    LEFT JOIN by_offset p4 ON p4.destination = m.topic AND p4."partition" = m."partition" AND p4."offset" = m."offset"
    LEFT JOIN by_id p5 ON p5.message_id = m.message_id
), located AS (
    SELECT *, coalesce(topic, p.destination) AS t, coalesce("partition", p."partition") AS pt,
           coalesce("offset", p."offset") AS o
    FROM paired
), back AS (
    -- sync calls from each consumer segment, per called service: a call to the producer is a callback
    SELECT trace_id, seg, service, count(*) AS n, mode(name) AS operation FROM _walk WHERE is_hop GROUP BY ALL
), sends AS (
    SELECT trace_id, seg, count(*) AS n FROM _walk WHERE is_producer GROUP BY ALL
)
SELECT x.consumer_group, x.t, x.pt, x.o, coalesce(x.message_id, x.p.message_id),
       x.trace_id, x.span_id, x.service, x.link_index,
       x.p.trace_id, x.p.span_id, x.p.service, x.p.start_time, x.start_time, r."timestamp",
       date_diff('microsecond', x.p.start_time, x.start_time),
       date_diff('microsecond', r."timestamp", x.start_time),
       x.pairing,
       coalesce(x.p.start_time > x.start_time, false) OR coalesce(r."timestamp" > x.start_time, false),
       CASE WHEN x.p.service IS NOT NULL THEN coalesce(b.n, 0) END, b.operation, coalesce(sd.n, 0)
FROM located x
LEFT JOIN _rec r ON r.topic = x.t AND r."partition" = x.pt AND r."offset" = x.o
LEFT JOIN back b ON b.trace_id = x.trace_id AND b.seg = x.span_id AND b.service = x.p.service
LEFT JOIN sends sd ON sd.trace_id = x.trace_id AND sd.seg = x.span_id
ORDER BY x.start_time
"""
