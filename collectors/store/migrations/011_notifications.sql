-- Finding notifications (docs/architecture.md#alerts-and-notifications). A receiver is named by
-- the sha256 of its URL: webhook URLs carry their secret in the path, so the URL is never stored.
-- No primary keys: one thread writes these small tables, and DuckDB handles an updated row of a
-- keyed table as a delete and an insert.

-- What each receiver was told and is still open: a finding is announced when it first appears
-- (new) and again only when its severity rises (worse); the row goes when the resolved notice
-- is queued. A restart reads it, so nothing is announced twice.
CREATE TABLE notify_state (
    receiver VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    subject_kind VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,             -- the gravest severity announced while open
    opened_at TIMESTAMP NOT NULL
);

-- Every notice, queued in the same transaction as the state change it announces, and marked
-- when the receiver took it (2xx) or refused it for good (4xx other than 408 and 429).
-- The queue order, id, is given by the one thread that queues (max + 1 in its transaction): a
-- DuckLake store has no sequences.
CREATE TABLE notify_outbox (
    id BIGINT NOT NULL,
    notice_id VARCHAR NOT NULL,            -- sent with the notice (Idempotency-Key) so a receiver can dedupe
    receiver VARCHAR NOT NULL,
    event VARCHAR NOT NULL,                -- new | worse | resolved
    rule VARCHAR NOT NULL,
    subject_kind VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    body VARCHAR NOT NULL,                 -- the JSON posted
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMP,
    refused VARCHAR                        -- the receiver's answer when it refused the notice for good
);
