-- Derived per-trace facts (docs/architecture.md#the-derive-model): written once per trace by collectors/derive when the
-- trace has been quiet for a while, so pages never recompute trace structure at load.
-- Rows are appended in start-time order batches, which keeps DuckDB's zone maps useful
-- for the time-window filters every page query carries.

-- One row per synchronous segment (docs/architecture.md#synchronous-call-chain-depth): a trace root, a CONSUMER span, a child
-- of a PRODUCER span, or a span whose parent never arrived.
CREATE TABLE trace_segments (
    trace_id VARCHAR NOT NULL,
    segment_span_id VARCHAR NOT NULL,      -- the entry span
    cause VARCHAR,                         -- root | consumer | after_producer | orphan
    entry_service VARCHAR,
    entry_operation VARCHAR,               -- the entry span's name (e.g. "POST /checkout", "process shop.orders")
    entry_kind TINYINT,
    consumer_group VARCHAR,                -- when the segment starts at a consumer
    topic VARCHAR,
    depth INTEGER,                         -- SCD: most hops on a root-to-leaf path
    service_path VARCHAR[],                -- entry service, then each hop's service on the deepest path
    path_span_ids VARCHAR[],
    path_latency_us BIGINT,                -- summed duration of the spans on that path
    fan_out INTEGER,                       -- most sync calls made by one request in the segment
    hops INTEGER,                          -- all hops in the segment
    leaf_calls INTEGER,                    -- DB calls and CLIENT calls with no SERVER (shown, not counted)
    span_count INTEGER,
    error_spans INTEGER,
    duration_us BIGINT,                    -- of the entry span
    start_time TIMESTAMP,
    end_time TIMESTAMP
);

-- The edges of each segment: sync hops, sends to topics, leaf calls. Small, and what
-- the side-effect, callback and reply rules join on.
CREATE TABLE segment_edges (
    trace_id VARCHAR NOT NULL,
    segment_span_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,              -- the SERVER span of a hop, the PRODUCER or CLIENT span otherwise
    parent_span_id VARCHAR,
    edge VARCHAR,                          -- hop | send | leaf
    from_service VARCHAR,
    to_service VARCHAR,                    -- callee service, topic, or db/peer
    operation VARCHAR,
    depth INTEGER,                         -- hop depth of this span within the segment
    start_time TIMESTAMP,
    duration_us BIGINT
);

CREATE TABLE trace_facts (
    trace_id VARCHAR NOT NULL,
    root_span_id VARCHAR,
    root_service VARCHAR,
    root_operation VARCHAR,
    max_depth INTEGER,
    segments INTEGER,
    span_count INTEGER,
    services INTEGER,
    error_spans INTEGER,
    start_time TIMESTAMP,
    end_time TIMESTAMP,
    duration_us BIGINT,
    derived_at TIMESTAMP
);

-- One row per message a consumer span processed (one per link for batch spans), paired
-- with its producer span (docs/architecture.md#event-lag). Lags are signed; negative ones are clock skew.
CREATE TABLE message_lag (
    consumer_group VARCHAR,
    topic VARCHAR,
    "partition" INTEGER,
    "offset" BIGINT,
    message_id VARCHAR,
    consumer_trace_id VARCHAR NOT NULL,
    consumer_span_id VARCHAR NOT NULL,
    consumer_service VARCHAR,
    link_index INTEGER,                    -- which link of a batch span, NULL otherwise
    producer_trace_id VARCHAR,
    producer_span_id VARCHAR,
    producer_service VARCHAR,
    producer_start TIMESTAMP,
    process_start TIMESTAMP,
    record_timestamp TIMESTAMP,
    lag_e2e_us BIGINT,                     -- process start - producer start
    lag_broker_us BIGINT,                  -- process start - record broker timestamp
    pairing VARCHAR,                       -- link | parent | traceparent | offset | message_id | NULL (unpaired)
    clock_skew BOOLEAN
);

-- Bookkeeping of the derivation: how far the spans were scanned, and traces waiting to be quiet.
CREATE TABLE derive_state (
    name VARCHAR PRIMARY KEY,
    scanned_upto TIMESTAMP
);
CREATE TABLE derive_pending (
    trace_id VARCHAR PRIMARY KEY,
    first_start TIMESTAMP,
    last_end TIMESTAMP
);
