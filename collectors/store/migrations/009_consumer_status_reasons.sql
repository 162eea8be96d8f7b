-- Consumer status, stricter than Burrow (issue 12): every verdict says why, and what the
-- "no commit for too long" rule needs to be judged again at read time is kept with it.
ALTER TABLE consumer_status ADD COLUMN reason VARCHAR;              -- why the partition is not OK (NULL when OK)
ALTER TABLE consumer_status ADD COLUMN stuck_since TIMESTAMP;       -- last commit, or the last poll it was caught up after it
ALTER TABLE consumer_status ADD COLUMN stop_after_s DOUBLE;         -- no commit for longer than this with lag: STOP
ALTER TABLE consumer_status ADD COLUMN members INTEGER;             -- the group's members at the snapshot

-- Per-group limits declared in the topology (max_lag_messages, max_time_lag): CONSUMER_LAG
-- when exceeded, whatever the status says.
ALTER TABLE topology_groups ADD COLUMN max_lag_messages BIGINT;
ALTER TABLE topology_groups ADD COLUMN max_time_lag_s DOUBLE;

-- The rules changed: judge every stored snapshot again on the next derive pass.
DELETE FROM consumer_status;
DELETE FROM derive_state WHERE name = 'group_offsets';
