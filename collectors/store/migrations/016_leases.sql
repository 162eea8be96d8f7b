-- Leases (docs/architecture.md#many-collectors): on a lake several collector processes share the
-- store, and the jobs only one of them may run (the lag poller of a cluster, the derivation) go
-- to whoever holds the lease. Every taking or renewing of a lease deletes and re-inserts the
-- 'serial' row with its own: DuckLake fails the second of two such transactions that overlap,
-- so two processes can never both take one. A single-process DuckDB file has them all.
CREATE TABLE leases (
    name VARCHAR NOT NULL,
    holder VARCHAR,
    expires_at TIMESTAMP
);
INSERT INTO leases VALUES ('serial', NULL, NULL);
