-- Topic settings the audit reads (docs/architecture.md#event-design-audit): each tapped topic's
-- cleanup.policy and retention.ms as the cluster gave them, asked once a tap session per topic
-- (collectors/kafka/topic_settings.py) and written with the next batch. The newest row of a
-- (cluster, topic) is its settings. A compacted topic keeps each key's latest record: its records
-- are states, identified by their key, rather than events.
CREATE TABLE topic_configs (
    cluster VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    cleanup_policy VARCHAR,
    retention_ms BIGINT,
    observed_at TIMESTAMP NOT NULL
);
