"""Event lag (DESIGN §5.2): trace-paired end-to-end lag, offset lag, and time lag.

- Trace lag reads message_lag (paired once by collectors.derive): signed values, negative
  ones flagged as clock skew, never clamped.
- Offset lag per (group, topic, partition) = high watermark − committed offset, from the
  lag poller's snapshots.
- Time lag, method named in a column: ``exact`` = snapshot time − broker timestamp of the
  record at the committed offset, where the tap holds it; otherwise Kafka Lag Exporter's
  estimate from a per-partition table of (end offset, time) points: ``interpolated``
  between the two points around the committed offset, ``extrapolated`` along the whole
  table when the offset is older than the table; ``caught_up`` when there is nothing to
  read; ``too_few_points`` when the table cannot say.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

TABLE_SIZE = 360  # points per partition (KLE keeps 60 at a 30 s poll: half an hour; this is as long at 5 s)

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

# (end offset, time) points per partition: what the broker reported, from either poll.
_POINTS = """
SELECT cluster, topic, "partition", high_watermark AS end_offset, ts FROM (
    SELECT cluster, topic, "partition", high_watermark, observed_at AS ts FROM topic_offsets
    WHERE observed_at >= $since AND observed_at < $end AND high_watermark IS NOT NULL
    UNION ALL
    SELECT cluster, topic, "partition", high_watermark, polled_at FROM group_offsets
    WHERE polled_at >= $since AND polled_at < $end AND high_watermark IS NOT NULL
)
ORDER BY cluster, topic, "partition", ts, end_offset
"""

# Snapshots in the window, each with the broker time of the record at its committed offset, if tapped.
_SNAPSHOTS_WITH_RECORD = """
WITH snap AS (
    SELECT cluster, group_id, topic, "partition", polled_at, committed_offset, high_watermark
    FROM group_offsets
    WHERE polled_at >= $start AND polled_at < $end AND ($group IS NULL OR group_id = $group)
      AND committed_offset IS NOT NULL
)
SELECT s.*, r."timestamp" AS record_timestamp
FROM snap s
LEFT JOIN (SELECT cluster, topic, "partition", "offset", min("timestamp") AS "timestamp" FROM records
           WHERE "timestamp" >= $since AND "timestamp" < $end GROUP BY ALL) r
  ON r.cluster = s.cluster AND r.topic = s.topic AND r."partition" = s."partition"
 AND r."offset" = s.committed_offset
ORDER BY s.cluster, s.topic, s."partition", s.polled_at, s.group_id
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


def offset_lag(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """Offset lag per (group, topic, partition) at every snapshot in the window."""
    return con.execute(_OFFSET_LAG, {"start": window.start, "end": window.end, "group": group}).df()


def offset_lag_latest(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """The newest offset lag per (group, topic, partition) in the window, largest first."""
    return con.execute(_OFFSET_LAG_LATEST, {"start": window.start, "end": window.end, "group": group}).df()


class PointTable:
    """Kafka Lag Exporter's lookup table of one partition: (end offset, time), sliding."""

    def __init__(self, size: int = TABLE_SIZE) -> None:
        self.offsets: deque[int] = deque(maxlen=size)
        self.times: deque[datetime] = deque(maxlen=size)

    def add(self, offset: int, at: datetime) -> None:
        if self.offsets:
            if at <= self.times[-1] or offset < self.offsets[-1]:
                return  # out of order, or not monotonic: ignored, as KLE does
            if offset == self.offsets[-1] and len(self.offsets) > 1 and self.offsets[-2] == offset:
                self.times[-1] = at  # a flat stretch stays two points: where it began, and its latest time
                return
        self.offsets.append(offset)
        self.times.append(at)

    def lookup(self, offset: int) -> tuple[datetime | None, str]:
        """When the partition's end reached ``offset``: (time, method)."""
        if self.offsets and offset >= self.offsets[-1]:
            return None, "caught_up"
        if len(self.offsets) < 2:
            return None, "too_few_points"
        offs = list(self.offsets)
        j = bisect_right(offs, offset)  # first point past the offset
        if j == 0:
            left, right, method = 0, len(offs) - 1, "extrapolated"
        else:
            left, right, method = j - 1, j, "interpolated"
        dx = (self.times[right] - self.times[left]) / timedelta(microseconds=1)
        dy = offs[right] - offs[left]
        if dy <= 0:
            return None, "too_few_points"
        at = self.times[right] - timedelta(microseconds=(offs[right] - offset) * dx / dy)
        return at, method


def time_lag(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
             table_size: int = TABLE_SIZE, lookback: timedelta = timedelta(hours=1)) -> pd.DataFrame:
    """Time lag of every snapshot in the window, in seconds, with the method that produced it."""
    since = window.start - lookback
    params: dict[str, Any] = {"start": window.start, "end": window.end, "since": since, "group": group}
    points = con.execute(_POINTS, {"since": since, "end": window.end}).df()
    snaps = con.execute(_SNAPSHOTS_WITH_RECORD, params).df()
    out: list[dict[str, Any]] = []
    if snaps.empty:
        return pd.DataFrame(out, columns=_TIME_LAG_COLUMNS)
    by_part = {k: g for k, g in points.groupby(["cluster", "topic", "partition"], sort=False)} if len(points) else {}
    for key, part in snaps.groupby(["cluster", "topic", "partition"], sort=True):
        table = PointTable(table_size)
        pts = by_part.get(key)
        pts_iter = iter(pts.itertuples(index=False)) if pts is not None else iter(())
        pending = next(pts_iter, None)
        for s in part.itertuples(index=False):
            while pending is not None and pending.ts <= s.polled_at:
                table.add(int(pending.end_offset), pending.ts)
                pending = next(pts_iter, None)
            committed = int(s.committed_offset)
            hwm = None if pd.isna(s.high_watermark) else int(s.high_watermark)
            row = {"cluster": key[0], "group_id": s.group_id, "topic": key[1], "partition": int(key[2]),
                   "at": s.polled_at, "committed_offset": committed, "high_watermark": hwm,
                   "offset_lag": None if hwm is None else max(hwm - committed, 0)}
            if hwm is not None and committed >= hwm:
                row.update(time_lag_s=0.0, method="caught_up")
            elif not pd.isna(s.record_timestamp):
                row.update(time_lag_s=(s.polled_at - s.record_timestamp).total_seconds(), method="exact")
            else:
                produced, method = table.lookup(committed)
                lag = None if produced is None else max((s.polled_at - produced).total_seconds(), 0.0)
                row.update(time_lag_s=0.0 if method == "caught_up" else lag, method=method)
            out.append(row)
    return pd.DataFrame(out, columns=_TIME_LAG_COLUMNS)


_TIME_LAG_COLUMNS = ["cluster", "group_id", "topic", "partition", "at", "committed_offset", "high_watermark",
                     "offset_lag", "time_lag_s", "method"]


def time_lag_latest(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                    **kw: Any) -> pd.DataFrame:
    """The newest time lag per (group, topic, partition), largest first."""
    df = time_lag(con, window, group=group, **kw)
    if df.empty:
        return df
    df = df.sort_values("at").groupby(["cluster", "group_id", "topic", "partition"], as_index=False).tail(1)
    return df.sort_values("time_lag_s", ascending=False, na_position="last").reset_index(drop=True)
