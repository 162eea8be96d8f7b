"""Processings and their side effects (docs/architecture.md#redeliveries-and-duplicates and docs/architecture.md#idempotency-violations), derived with a trace's segments.

A processing row is a CONSUMER span (kind 5) that names its record (destination and
offset), or one link of a batch CONSUMER span (no offset, a link per message: DELIVERIES), and
is a `process` or `receive` (or unnamed) operation. Its side effects are the
spans of its synchronous segment (the walk stops at PRODUCER and CONSUMER spans, so what
downstream consumers do is never charged to it):

- ``event``: a PRODUCER span (or a messaging `send`/`create`), a downstream event;
- ``db_write``: a DB span whose operation writes (WRITE_OPERATIONS);
- ``http_call``: a CLIENT span with an unsafe method (UNSAFE_METHODS).

Which processing counts (receive spans only without a process span; `-retry-N` copies
folded onto their origin record) is decided at query time, where the window and the
records are known (dashboard.analyses.processings); `duplicate_deliveries` names the
deliveries with more than one row, the only ones that decision has to look at closely, and
`duplicated_processings` keeps their rows, side effects included, for the idempotency page.
"""

from __future__ import annotations

WRITE_OPERATIONS = ("INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE", "REPLACE")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

_ATTEMPT_KEYS = ("messaging.kafka.delivery_attempt", "messaging.delivery_attempt", "kafka_deliveryAttempt",
                 "delivery_attempt")
# The delivery-attempt attribute, as a column expression over `spans s` (consumer spans only).
DELIVERY_ATTEMPT = ("CASE WHEN s.kind = 5 THEN TRY_CAST(coalesce("
                    + ", ".join(f"""json_extract_string(s.attributes, '$."{k}"')""" for k in _ATTEMPT_KEYS)
                    + ") AS INTEGER) END")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"  # constants of this module


# A consumer span that processes what it read; one that names its record; one of a batch (no
# offset of its own, a link per message).
_CONSUMES = "kind = 5 AND coalesce(operation_type, 'process') IN ('process', 'receive')"
_SINGLE = f'{_CONSUMES} AND destination IS NOT NULL AND "offset" IS NOT NULL'
_BATCH = f'{_CONSUMES} AND "offset" IS NULL AND len(coalesce(links, [])) > 0'


def _link_attr(*names: str) -> str:
    """The first of a link's attributes ``names`` (constants of this module) that it has, as text."""
    return "coalesce(" + ", ".join(f"""json_extract_string(x.link.attributes, '$."{n}"')""" for n in names) + ")"


# Each delivery a consumer span of the batch processed: the span itself when it names its record
# (destination and offset), and one row per link of a batch span (OpenTelemetry's batch receive
# or process: no offset of its own, a link to each message's creation context). A link's record
# is what its attributes say, else the record whose traceparent header is the link (the tap's),
# else the linked PRODUCER span's own destination, partition and offset; a link none of them
# places is no delivery. Binds the records' and producer spans' time range twice.
DELIVERIES = f"""
CREATE OR REPLACE TEMP TABLE _deliv AS
WITH linked AS (
    SELECT *, unnest(links) AS link, generate_subscripts(links, 1) AS link_index FROM _bx WHERE {_BATCH}
), placed AS (
    SELECT x.* REPLACE (
               coalesce({_link_attr('messaging.destination.name', 'messaging.destination')}, r.topic, p.destination,
                        x.destination) AS destination,
               coalesce(TRY_CAST({_link_attr('messaging.destination.partition.id',
                                             'messaging.kafka.destination.partition', 'messaging.kafka.partition')}
                                 AS INTEGER), r."partition", p."partition") AS "partition",
               coalesce(TRY_CAST({_link_attr('messaging.kafka.offset', 'messaging.kafka.message.offset')} AS BIGINT),
                        r."offset", p."offset") AS "offset",
               coalesce({_link_attr('messaging.message.id')}, p.message_id) AS message_id)
    FROM linked x
    LEFT JOIN records r ON r.trace_id = x.link.trace_id AND r.parent_span_id = x.link.span_id
        AND r."timestamp" >= ? AND r."timestamp" <= ?
    LEFT JOIN spans p ON p.trace_id = x.link.trace_id AND p.span_id = x.link.span_id AND p.kind = 4
        AND p.start_time >= ? AND p.start_time <= ?
    -- a producer span sent its message once; a record copied (a retried send) keeps its first offset
    QUALIFY row_number() OVER (PARTITION BY x.trace_id, x.span_id, x.link_index
                               ORDER BY r."offset" NULLS LAST, p.ingested_at) = 1
)
SELECT * EXCLUDE (link, link_index) FROM placed WHERE destination IS NOT NULL AND "offset" IS NOT NULL
UNION ALL BY NAME
SELECT * FROM _bx WHERE {_SINGLE}
"""  # noqa: S608 (constants of this module)
# Without batch spans in the batch (the usual case), the records and spans are not read.
SINGLE_DELIVERIES = f"CREATE OR REPLACE TEMP TABLE _deliv AS SELECT * FROM _bx WHERE {_SINGLE}"  # noqa: S608
HAS_BATCH_SPANS = f"SELECT count(*) > 0 FROM _bx WHERE {_BATCH}"  # noqa: S608

# Over the derivation's `_deliv` (deliveries), `_bx` (classified spans) and `_walk` (segment walk)
# of the batch. A batch span's side effects are each of its deliveries'.
INSERT_PROCESSINGS = f"""
INSERT INTO processings
WITH eff AS (
    SELECT * FROM (
        SELECT w.trace_id, w.seg, x.span_id, x.name, x.service, x.start_time,
               CASE WHEN x.kind = 4 OR (x.messaging_system IS NOT NULL AND x.operation_type IN ('send', 'create'))
                        THEN 'event'
                    WHEN upper(x.db_operation) IN {_in(WRITE_OPERATIONS)} THEN 'db_write'
                    WHEN x.kind = 3 AND upper(x.http_method) IN {_in(UNSAFE_METHODS)} THEN 'http_call' END AS effect,
               CASE WHEN x.kind = 4 OR x.messaging_system IS NOT NULL THEN x.destination
                    WHEN x.db_operation IS NOT NULL THEN concat_ws(' ', x.db_system, x.db_operation)
                    WHEN x.peer_service IS NOT NULL OR x.http_route IS NOT NULL
                        THEN concat_ws(' ', x.http_method, x.peer_service, x.http_route)
                    ELSE x.name END AS target
        FROM _walk w JOIN _bx x USING (trace_id, span_id)
        WHERE w.span_id <> w.seg
    )
    WHERE effect IS NOT NULL
), per AS (
    SELECT trace_id, seg,
           count(*) FILTER (WHERE effect = 'event') AS events,
           count(*) FILTER (WHERE effect = 'db_write') AS db_writes,
           count(*) FILTER (WHERE effect = 'http_call') AS http_calls,
           list(struct_pack(effect := effect, target := target, service := service, name := name,
                            trace_id := trace_id, span_id := span_id) ORDER BY start_time, span_id) AS effects
    FROM eff GROUP BY trace_id, seg
)
SELECT c.trace_id, c.span_id, c.service, c.service_instance, c.client_id, coalesce(c.consumer_group, c.service),
       c.destination, c."partition", c."offset", c.message_id, c.operation_type, c.start_time, c.end_time,
       c.duration_us, c.status_code, c.delivery_attempt,
       coalesce(p.events, 0), coalesce(p.db_writes, 0), coalesce(p.http_calls, 0), coalesce(p.effects, [])
FROM _deliv c
LEFT JOIN per p ON p.trace_id = c.trace_id AND p.seg = c.span_id
ORDER BY c.start_time
"""  # noqa: S608 (constants of this module)

# Deliveries of the batch's processings that now have more than one row (and were not known).
# The whole table is probed, but only for the batch's keys: a redelivery may come days later.
INSERT_DUPLICATE_DELIVERIES = """
INSERT INTO duplicate_deliveries
WITH keys AS (
    SELECT DISTINCT hash(coalesce(consumer_group, service), destination, "partition", "offset") AS h
    FROM _deliv
)
SELECT n.*, ? FROM (
    SELECT grp, topic, "partition", "offset" FROM processings
    WHERE hash(grp, topic, "partition", "offset") IN (SELECT h FROM keys)
    GROUP BY grp, topic, "partition", "offset" HAVING count(*) > 1
) n
WHERE NOT EXISTS (SELECT 1 FROM duplicate_deliveries d
                  WHERE d.grp IS NOT DISTINCT FROM n.grp AND d.topic = n.topic
                    AND d."partition" IS NOT DISTINCT FROM n."partition" AND d."offset" = n."offset")
"""

# The processing rows of every duplicated delivery the batch touches (its own rows, and the
# earlier rows of a delivery it makes duplicated) not copied yet: delivery keys by hash, as
# the pages' candidates are (a collision copies a few extra rows, never misses one). Found on
# narrow columns, then copied from the time range they span (zone maps skip the rest).
DUPLICATED_PROCESSINGS = """
CREATE OR REPLACE TEMP TABLE _dupk AS
WITH keys AS (
    SELECT DISTINCT hash(coalesce(consumer_group, service), destination, "partition", "offset") AS h
    FROM _deliv
), dup AS (
    SELECT h FROM keys WHERE h IN (SELECT hash(grp, topic, "partition", "offset") FROM duplicate_deliveries)
)
SELECT p.trace_id, p.span_id, p.start_time FROM processings p
WHERE hash(p.grp, p.topic, p."partition", p."offset") IN (SELECT h FROM dup)
  AND NOT EXISTS (SELECT 1 FROM duplicated_processings d WHERE d.trace_id = p.trace_id AND d.span_id = p.span_id)
"""
INSERT_DUPLICATED_PROCESSINGS = """
INSERT INTO duplicated_processings
SELECT p.* FROM processings p SEMI JOIN _dupk k ON k.trace_id = p.trace_id AND k.span_id = p.span_id
WHERE {within}
ORDER BY p.start_time
"""  # {within}: a constant of collectors.derive

# PRODUCER spans, with their parent's group when the parent is a CONSUMER span.
INSERT_SENDS = """
INSERT INTO sends
SELECT c.trace_id, c.span_id, c.parent_span_id, c.service, c.start_time,
       CASE WHEN p.kind = 5 THEN coalesce(p.consumer_group, p.service) END,
       CASE WHEN p.kind = 5 THEN p.start_time END
FROM _bx c
LEFT JOIN _bx p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
WHERE c.kind = 4
ORDER BY c.start_time
"""
