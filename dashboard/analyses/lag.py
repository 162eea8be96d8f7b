"""Event lag (docs/architecture.md#event-lag): trace-paired end-to-end lag, offset lag, and time lag.

- Trace lag reads message_lag (paired once by collectors.derive): signed values, negative
  ones flagged as clock skew, never clamped.
- Offset lag per (group, topic, partition) = high watermark − committed offset, from the
  lag poller's snapshots.
- Time lag, method named in a column: ``exact`` = snapshot time − broker timestamp of the
  record at the committed offset, where the tap holds it; otherwise Kafka Lag Exporter's
  estimate from a per-partition table of (end offset, time) points: ``interpolated``
  between the two points around the committed offset, ``extrapolated`` along the whole
  table when the offset is older than the table; ``caught_up`` when there is nothing to
  read; ``too_few_points`` when the table cannot say. Derived once per snapshot
  (collectors.derive.consumer, where the method is spelled out); pages read the result.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from dashboard.analyses import topic_settings
from dashboard.analyses.window import Window

_TRACE_LAG = """
SELECT time_bucket(to_microseconds($bucket_us), process_start) AS bucket, consumer_group, topic,
       count(*) AS messages,
       count(lag_e2e_us) AS paired,
       quantile_cont(lag_e2e_us, 0.5) / 1e3 AS p50_ms,
       quantile_cont(lag_e2e_us, 0.95) / 1e3 AS p95_ms,
       quantile_cont(lag_e2e_us, 0.99) / 1e3 AS p99_ms,
       max(lag_e2e_us) / 1e3 AS max_ms,
       count(*) FILTER (WHERE clock_skew) AS clock_skew
FROM message_lag
WHERE process_start >= $start AND process_start < $end
  AND ($group IS NULL OR consumer_group = $group) AND ($topic IS NULL OR topic = $topic)
GROUP BY ALL
ORDER BY bucket, consumer_group, topic
"""

_TRACE_LAG_SUMMARY = """
SELECT consumer_group, topic, count(*) AS messages, count(lag_e2e_us) AS paired,
       quantile_cont(lag_e2e_us, 0.5) / 1e3 AS p50_ms,
       quantile_cont(lag_e2e_us, 0.95) / 1e3 AS p95_ms,
       quantile_cont(lag_e2e_us, 0.99) / 1e3 AS p99_ms,
       min(lag_e2e_us) / 1e3 AS min_ms, max(lag_e2e_us) / 1e3 AS max_ms,
       quantile_cont(lag_broker_us, 0.95) / 1e3 AS p95_broker_ms,
       count(*) FILTER (WHERE clock_skew) AS clock_skew,
       histogram(coalesce(pairing, 'unpaired')) AS pairing
FROM message_lag
WHERE process_start >= $start AND process_start < $end
  AND ($group IS NULL OR consumer_group = $group) AND ($topic IS NULL OR topic = $topic)
GROUP BY ALL
ORDER BY p95_ms DESC NULLS LAST, consumer_group, topic
"""

_MESSAGES = """
SELECT * FROM message_lag
WHERE process_start >= $start AND process_start < $end
  AND ($group IS NULL OR consumer_group = $group) AND ($topic IS NULL OR topic = $topic)
  AND (NOT $skew_only OR clock_skew)
ORDER BY lag_e2e_us DESC NULLS LAST
LIMIT $limit
"""

_OFFSET_LAG = """
SELECT cluster, group_id, topic, "partition", polled_at AS at, committed_offset, high_watermark,
       greatest(high_watermark - committed_offset, 0) AS offset_lag, state, members
FROM group_offsets
WHERE polled_at >= $start AND polled_at < $end AND ($group IS NULL OR group_id = $group)
QUALIFY row_number() OVER (PARTITION BY cluster, group_id, topic, "partition",
                           time_bucket(to_microseconds($bucket_us), polled_at) ORDER BY polled_at DESC) = 1
ORDER BY cluster, group_id, topic, "partition", polled_at
"""

_OFFSET_LAG_LATEST = """
SELECT cluster, group_id, topic, "partition", polled_at AS at, committed_offset, high_watermark,
       greatest(high_watermark - committed_offset, 0) AS offset_lag, state, members
FROM group_offsets
WHERE polled_at >= $start AND polled_at < $end AND ($group IS NULL OR group_id = $group)
QUALIFY row_number() OVER (PARTITION BY cluster, group_id, topic, "partition" ORDER BY polled_at DESC) = 1
ORDER BY offset_lag DESC, cluster, group_id, topic, "partition"
"""

_TIME_LAG = """
SELECT cluster, group_id, topic, "partition", "at", committed_offset, high_watermark, lag AS offset_lag,
       time_lag_s, time_lag_method AS method
FROM consumer_status
WHERE "at" >= $start AND "at" < $end AND ($group IS NULL OR group_id = $group)
QUALIFY row_number() OVER (
    PARTITION BY cluster, group_id, topic, "partition",
                 CASE WHEN $latest THEN NULL ELSE time_bucket(to_microseconds($bucket_us), "at") END
    ORDER BY "at" DESC) = 1
ORDER BY cluster, group_id, topic, "partition", "at"
"""


def _bucket(window: Window, bucket: timedelta | None, buckets: int = 60) -> int:
    if bucket is None:
        raw = (window.end - window.start) / buckets
        steps = [timedelta(seconds=s) for s in (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 21600, 86400)]
        bucket = next((s for s in steps if s >= raw), steps[-1])
    return int(bucket / timedelta(microseconds=1))


def trace_lag(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
              topic: str | None = None, bucket: timedelta | None = None) -> pd.DataFrame:
    """End-to-end lag per (group, topic) over time: p50/p95/p99 of process start − producer start."""
    return con.execute(_TRACE_LAG, {"start": window.start, "end": window.end, "group": group, "topic": topic,
                                    "bucket_us": _bucket(window, bucket)}).df()


def trace_lag_summary(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                      topic: str | None = None) -> pd.DataFrame:
    """End-to-end lag per (group, topic) over the window, with clock-skew counts and pairing methods."""
    return con.execute(_TRACE_LAG_SUMMARY, {"start": window.start, "end": window.end, "group": group,
                                            "topic": topic}).df()


def lagged_messages(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                    topic: str | None = None, skew_only: bool = False, limit: int = 200) -> pd.DataFrame:
    """The paired messages themselves, slowest first (ids to drill into)."""
    return con.execute(_MESSAGES, {"start": window.start, "end": window.end, "group": group, "topic": topic,
                                   "skew_only": skew_only, "limit": limit}).df()


def offset_lag(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
               bucket: timedelta | None = None) -> pd.DataFrame:
    """Offset lag per (group, topic, partition): the last snapshot of each time bucket in the window."""
    return con.execute(_OFFSET_LAG, {"start": window.start, "end": window.end, "group": group,
                                     "bucket_us": _bucket(window, bucket, buckets=120)}).df()


def offset_lag_latest(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """The newest offset lag per (group, topic, partition) in the window, largest first."""
    return con.execute(_OFFSET_LAG_LATEST, {"start": window.start, "end": window.end, "group": group}).df()


def time_lag(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
             bucket: timedelta | None = None) -> pd.DataFrame:
    """Time lag in seconds per (group, topic, partition), the last snapshot of each time bucket,
    with the method that produced each number (derived once per snapshot by collectors.derive)."""
    return con.execute(_TIME_LAG, {"start": window.start, "end": window.end, "group": group, "latest": False,
                                   "bucket_us": _bucket(window, bucket, buckets=120)}).df()


def time_lag_latest(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """The newest time lag per (group, topic, partition) in the window, largest first."""
    df = con.execute(_TIME_LAG, {"start": window.start, "end": window.end, "group": group, "latest": True,
                                 "bucket_us": 1}).df()
    return df.sort_values("time_lag_s", ascending=False, na_position="last").reset_index(drop=True)


_RETENTION = """
SELECT cluster, topic, retention_ms / 1000 AS retention_s FROM {settings}
WHERE retention_ms > 0 AND contains(coalesce(policy, 'delete'), 'delete')
ORDER BY cluster, topic
"""


def retention(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each topic whose retention deletes records: after how many seconds, as the tap or the lag
    poller last read its settings. Topics kept forever, compacted only, or never read are left out."""
    return con.execute(_RETENTION.format(settings=topic_settings.latest(con))).df()


def kept_for(retention_s: Any, time_lag_s: Any) -> Any:
    """How long the oldest record a group has not read is still kept: the topic's retention less the
    group's time lag, never below 0 (likely deleted unread); numbers or Series alike (NaN stays NaN)."""
    return np.maximum(retention_s - time_lag_s, 0.0)


_HELD = """
SELECT "timestamp", event_type FROM records
WHERE cluster = $cluster AND topic = $topic AND "partition" = $partition AND "offset" = $offset
LIMIT 1
"""

_RECORD = """
SELECT cluster, topic, "partition", "offset", "key", "timestamp", headers, value_size, value_excerpt, trace_id,
       event_id, event_type, envelope, tapped_at
FROM records
WHERE topic = $topic AND "partition" = $partition AND "offset" = $offset AND ($cluster IS NULL OR cluster = $cluster)
ORDER BY cluster
LIMIT 1
"""


def stuck_partitions(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """Each partition that is not OK at the window's end: why, the committed offset it stands at, the
    record at that offset (the next one the group has to process) when the tap holds it, and the last commit."""
    from dashboard.analyses.burrow import partition_status

    parts = partition_status(con, window, group=group)
    parts = parts[parts["status"] != "OK"].reset_index(drop=True)
    held, stamps, types = [], [], []
    for r in parts.itertuples(index=False):  # a few partitions at most: one keyed lookup each
        row = None if pd.isna(r.committed_offset) else con.execute(_HELD, {
            "cluster": r.cluster, "topic": r.topic, "partition": int(r.partition),
            "offset": int(r.committed_offset)}).fetchone()
        held.append(row is not None)
        stamps.append(row[0] if row else None)
        types.append(row[1] if row else None)
    parts = parts.assign(record_held=held, record_timestamp=stamps, record_event_type=types)
    return parts[["cluster", "group_id", "topic", "partition", "status", "reason", "committed_offset", "current_lag",
                  "last_commit", "record_timestamp", "record_event_type", "record_held"]]


def record_at(con: duckdb.DuckDBPyConnection, topic: str, partition: int, offset: int,
              cluster: str | None = None) -> dict | None:
    """The tapped record at (topic, partition, offset), or None when the tap does not hold it."""
    df = con.execute(_RECORD, {"topic": topic, "partition": partition, "offset": offset, "cluster": cluster}).df()
    return None if df.empty else df.iloc[0].to_dict()


_PARTITION_ENDS_LATEST = """
SELECT cluster, topic, "partition", low_watermark, high_watermark, observed_at AS at
FROM topic_offsets
WHERE observed_at >= $start AND observed_at < $end
QUALIFY row_number() OVER (PARTITION BY cluster, topic, "partition" ORDER BY observed_at DESC) = 1
ORDER BY cluster, topic, "partition"
"""


def partition_ends_latest(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Each partition's newest first and end offsets (low and high watermark) in the window."""
    return con.execute(_PARTITION_ENDS_LATEST, {"start": window.start, "end": window.end}).df()
