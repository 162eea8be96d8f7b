-- PRODUCER spans with what a causation-id finding needs to name the group that sent them
-- (docs/architecture.md#idempotency-violations): derived once per trace by collectors/derive, so that the idempotency page
-- joins the few suspicious records with this table instead of scanning every span.
CREATE TABLE sends (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    service VARCHAR,
    start_time TIMESTAMP,
    parent_grp VARCHAR,                    -- when the parent is a CONSUMER span: its group, else its service
    parent_start TIMESTAMP
);

-- Traces derived before this table existed are derived again (their old rows are replaced).
INSERT INTO derive_pending
SELECT trace_id, min(start_time), max(end_time) FROM trace_facts GROUP BY trace_id
ON CONFLICT (trace_id) DO NOTHING;
