-- The topic id (Kafka's, a UUID given when the topic is created) of each tap position: a topic
-- deleted and created again under the same name gets a new id, and its offsets start over, so a
-- position stored for the old topic must not be where the tap resumes the new one. NULL where the
-- broker gave no id (older brokers) and for positions written before this column.
ALTER TABLE tap_positions ADD COLUMN topic_id VARCHAR;
