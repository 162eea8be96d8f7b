-- Duplicated processings (docs/architecture.md#idempotency-violations), derived by collectors/derive: a
-- copy of every `processings` row whose delivery (group, topic, partition, offset as read) has
-- more than one row, i.e. of the deliveries in duplicate_deliveries. The idempotency page reads
-- these few rows, side effects included, instead of every processing's effects.
CREATE TABLE duplicated_processings (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    service VARCHAR,
    service_instance VARCHAR,
    client_id VARCHAR,
    grp VARCHAR,
    topic VARCHAR,
    "partition" INTEGER,
    "offset" BIGINT,
    message_id VARCHAR,
    operation_type VARCHAR,
    start_time TIMESTAMP,
    end_time TIMESTAMP,
    duration_us BIGINT,
    status_code TINYINT,
    delivery_attempt INTEGER,
    events INTEGER,
    db_writes INTEGER,
    http_calls INTEGER,
    effects STRUCT(effect VARCHAR, target VARCHAR, service VARCHAR, name VARCHAR, trace_id VARCHAR,
                   span_id VARCHAR)[]
);

-- A store derived before this table existed gets the rows of the deliveries it already knows.
INSERT INTO duplicated_processings
SELECT * FROM processings
WHERE hash(grp, topic, "partition", "offset") IN (
    SELECT hash(grp, topic, "partition", "offset") FROM duplicate_deliveries)
ORDER BY start_time;
