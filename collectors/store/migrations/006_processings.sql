-- Processings (docs/architecture.md#redeliveries-and-duplicates and docs/architecture.md#idempotency-violations), derived once per trace by collectors/derive so that the
-- redelivery and idempotency pages read one narrow table instead of every span: one row per
-- CONSUMER process or receive span of a record, with the side effects found under it.
-- Rows are appended in start-time order batches (zone maps prune the time window).
CREATE TABLE processings (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    service VARCHAR,
    service_instance VARCHAR,
    client_id VARCHAR,
    grp VARCHAR,                           -- consumer group, else the service
    topic VARCHAR,                         -- as read (a -retry-N copy keeps its own topic here)
    "partition" INTEGER,
    "offset" BIGINT,
    message_id VARCHAR,
    operation_type VARCHAR,                -- process | receive | NULL (counted as process)
    start_time TIMESTAMP,
    end_time TIMESTAMP,
    duration_us BIGINT,
    status_code TINYINT,
    delivery_attempt INTEGER,              -- from the delivery-attempt attribute, when instrumented
    -- side effects under the span, in its synchronous segment: PRODUCER spans (event),
    -- writing DB spans (db_write), CLIENT calls with an unsafe HTTP method (http_call)
    events INTEGER,
    db_writes INTEGER,
    http_calls INTEGER,
    effects STRUCT(effect VARCHAR, target VARCHAR, service VARCHAR, name VARCHAR, trace_id VARCHAR,
                   span_id VARCHAR)[]
);

-- Deliveries (group, topic, partition, offset as read) with more than one processing row, ever:
-- the few candidates a redelivery or duplicate-processing query looks at closely.
CREATE TABLE duplicate_deliveries (
    grp VARCHAR,
    topic VARCHAR,
    "partition" INTEGER,
    "offset" BIGINT,
    found_at TIMESTAMP
);

-- Traces derived before this table existed are derived again (their old rows are replaced),
-- so a store keeps every processing it has spans for.
INSERT INTO derive_pending
SELECT trace_id, min(start_time), max(end_time) FROM trace_facts GROUP BY trace_id
ON CONFLICT (trace_id) DO NOTHING;
