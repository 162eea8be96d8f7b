-- Dead-letter redrive (docs/architecture.md#dead-letter-redrive): one row per dead-letter record
-- `seamwatch redrive` (or the dashboard's Redrive button) replayed or left alone. A replay is
-- recorded as 'intent' before it is produced and turned 'done' with its target offset once the
-- producer's flush confirmed it; a later run skips 'done', and looks an 'intent' up in the target
-- topic (by the provenance header, from the end offsets in target_from) before sending it again,
-- so even a run killed with -9 leaves exactly one copy. Retention never deletes these rows.
CREATE TABLE redrives (
    cluster VARCHAR NOT NULL,
    dlt_topic VARCHAR NOT NULL,
    dlt_partition INTEGER NOT NULL,
    dlt_offset BIGINT NOT NULL,
    state VARCHAR NOT NULL,                -- intent | done | quarantined
    target_topic VARCHAR,
    grp VARCHAR,                           -- the group that dead-lettered it, from its headers
    replay_count INTEGER,                  -- the count the replay carries (1: its first replay)
    target_from VARCHAR,                   -- JSON {partition: end offset} of the target at the intent
    target_partition INTEGER,              -- where the replay landed (done)
    target_offset BIGINT,
    reason VARCHAR,                        -- why it was quarantined
    run_id VARCHAR,
    intent_at TIMESTAMP,
    done_at TIMESTAMP,
    PRIMARY KEY (cluster, dlt_topic, dlt_partition, dlt_offset)
);
