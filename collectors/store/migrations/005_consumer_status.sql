-- Consumer status per offset snapshot (docs/architecture.md#event-lag), derived once by collectors/derive so that
-- status and time lag over days of polls are a scan, not a re-evaluation at page load.
-- group_offsets learns when each row arrived, so the derivation picks up exactly the new ones
-- (older snapshots imported late are judged too).
ALTER TABLE group_offsets ADD COLUMN ingested_at TIMESTAMP DEFAULT (now()::TIMESTAMP);

CREATE TABLE consumer_status (
    cluster VARCHAR NOT NULL,
    group_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    "partition" INTEGER NOT NULL,
    "at" TIMESTAMP NOT NULL,               -- the snapshot's polled_at
    committed_offset BIGINT,
    high_watermark BIGINT,
    lag BIGINT,                            -- offset lag: high watermark - committed offset, >= 0
    status VARCHAR,                        -- Burrow: OK | WARN | STOP | STALL | REWIND (judged at "at")
    commits INTEGER,                       -- commits in the window (Burrow's intervals when full)
    window_first TIMESTAMP,
    window_last TIMESTAMP,
    judged BOOLEAN,                        -- full window, lag everywhere, no rewind: STOP can apply later
    window_offsets BIGINT[],
    window_lags BIGINT[],
    time_lag_s DOUBLE,
    time_lag_method VARCHAR                -- exact | interpolated | extrapolated | caught_up | too_few_points
);

-- What a consumer did with the message's producer: synchronous calls from its process segment
-- back into the producing service (CALLBACK_CHATTER reads these, not the edges of every segment).
ALTER TABLE message_lag ADD COLUMN callbacks INTEGER;
ALTER TABLE message_lag ADD COLUMN callback_operation VARCHAR;

-- Each edge knows its segment's entry, so the side-effect and reply rules scan one table.
ALTER TABLE segment_edges ADD COLUMN segment_cause VARCHAR;
ALTER TABLE segment_edges ADD COLUMN entry_kind TINYINT;
ALTER TABLE segment_edges ADD COLUMN entry_service VARCHAR;
ALTER TABLE segment_edges ADD COLUMN entry_operation VARCHAR;
ALTER TABLE segment_edges ADD COLUMN segment_start TIMESTAMP;
-- How many messages the consumer's processing sent on (PRODUCER spans in its segment).
ALTER TABLE message_lag ADD COLUMN segment_sends INTEGER;
