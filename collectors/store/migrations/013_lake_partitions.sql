-- Time partitions (docs/architecture.md#files-and-history): on a lake, the big tables write their
-- Parquet files by hour of their time column, so a page's window reads only its own hours' files
-- (collectors.store.lake.files_read counts them). Only new data is split this way; what a lake
-- held before keeps its files. A DuckDB file has no data files: there these statements are
-- skipped (collectors.store.lake.is_lake_only).
ALTER TABLE spans SET PARTITIONED BY (year(start_time), month(start_time), day(start_time), hour(start_time));
ALTER TABLE records SET PARTITIONED BY (year("timestamp"), month("timestamp"), day("timestamp"), hour("timestamp"));
ALTER TABLE group_offsets SET PARTITIONED BY (year(polled_at), month(polled_at), day(polled_at), hour(polled_at));
ALTER TABLE topic_offsets SET PARTITIONED BY (year(observed_at), month(observed_at), day(observed_at), hour(observed_at));
