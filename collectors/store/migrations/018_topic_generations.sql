-- Topic generations (docs/architecture.md#topics-created-again): a topic deleted and created again
-- under the same name starts its offsets over, so (topic, partition, offset) names a record of each
-- generation. The tap writes a row when it first stores records of a topic whose id changed, in the
-- same transaction: `since` is when the new topic's records begin (the earliest of their
-- timestamps and tap times in that batch, never before the old topic was last known alive).
-- Processings keyed on offsets are told apart by the generation their start falls in.
CREATE TABLE topic_generations (
    cluster VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    topic_id VARCHAR NOT NULL,
    since TIMESTAMP NOT NULL,
    found_at TIMESTAMP
);
