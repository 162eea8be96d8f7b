"""Consumer status per offset snapshot: Burrow's rules and time lag, derived in SQL (docs/architecture.md#event-lag).

Burrow (linkedin/Burrow, evaluator "caching") keeps the last ``INTERVALS`` commits of each
partition (commits closer than ``MIN_DISTANCE`` to the previous one replace it and keep its
time), each with the lag at commit time, and judges the window:

1. the current lag is zero, or the lag was zero at any commit in the window → OK;
2. the committed offset ever went backwards → REWIND;
3. now − last commit > last commit − first commit (the consumer stopped committing) → STOP;
4. every commit has the same offset (committing, but not moving) → STALL;
5. the offsets move but the lag never decreases from one commit to the next → WARN;
6. otherwise OK. A group is its worst partition, with STOP, STALL and REWIND shown as ERR.

Seamwatch sees commits through the lag poller's snapshots, not the __consumer_offsets
stream, so a snapshot counts as a commit when the committed offset moved, or when the group
has members (a live consumer commits on its auto-commit interval even when stuck); a group
without members whose offset stands still is not committing, and ages into STOP. Burrow
judges windows that are not full yet (and flags them incomplete, a single commit with lag
reading as STALL); Seamwatch judges full windows only. Commits closer than the min-distance
collapse by gaps (each within it of the one before) where Burrow measures from the first of
them; the poller never polls that fast.

Time lag is Kafka Lag Exporter's estimate, in SQL: points are (end offset, time) from both
polls, non-monotonic ones dropped; per end offset we keep when the end first reached it and
the last time it still stood there (a flat stretch is two points in KLE's table). Around a
committed offset c the left point is the largest end offset <= c at its last time, the
right one the smallest end offset > c at its first time (``interpolated``); older than every
point, the trend of the whole table (``extrapolated``). Where the tap holds the record at the
committed offset, the exact snapshot time − its broker timestamp (``exact``).
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from collectors.derive.watermark import mark_scanned, new_rows

INTERVALS = 10  # Burrow's default storage.intervals
MIN_DISTANCE = timedelta(seconds=1)  # Burrow's default min-distance
CONTEXT = timedelta(hours=1)  # snapshots before the new ones that a window (and KLE's table) may reach back to

# _scope(cluster, group_id, topic, partition, t_min): the partitions to judge, from t_min on.
_STATUS = """
CREATE OR REPLACE TEMP TABLE _cs AS
WITH snap AS (
    SELECT g.cluster, g.group_id, g.topic, g."partition", g.committed_offset AS o, g.members, g.polled_at AS ts,
           c.t_min,
           last_value(g.high_watermark IGNORE NULLS) OVER w AS hwm,
           lag(g.committed_offset) OVER w AS prev_o
    FROM group_offsets g
    JOIN _scope c ON c.cluster = g.cluster AND c.group_id = g.group_id AND c.topic = g.topic
                 AND c."partition" = g."partition"
    WHERE g.polled_at >= c.t_min - to_microseconds($context_us)
    WINDOW w AS (PARTITION BY g.cluster, g.group_id, g.topic, g."partition" ORDER BY g.polled_at
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), commits AS (
    SELECT *, greatest(coalesce(hwm, o) - o, 0) AS lag_c,
           coalesce(ts - lag(ts) OVER k >= to_microseconds($min_distance_us), true) AS starts
    FROM snap
    WHERE o IS NOT NULL AND (prev_o IS DISTINCT FROM o OR coalesce(members, 0) > 0)
    WINDOW k AS (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts)
), islands AS (
    SELECT *, sum(starts::INTEGER) OVER (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts) AS island
    FROM commits
), entries AS (
    SELECT cluster, group_id, topic, "partition", min(ts) AS ts, max(ts) AS seen,
           arg_max(o, ts) AS o, arg_max(lag_c, ts) AS lag_c
    FROM islands GROUP BY cluster, group_id, topic, "partition", island
), stepped AS (
    SELECT *, lag(o) OVER k AS prev_o, lag(lag_c) OVER k AS prev_lag
    FROM entries
    WINDOW k AS (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts)
), framed AS (
    SELECT cluster, group_id, topic, "partition", ts, seen, o,
           count(*) OVER w10 AS n,
           first_value(ts) OVER w10 AS first_ts,
           bool_or(lag_c = 0) OVER w10 AS any_zero,
           min(o) OVER w10 = max(o) OVER w10 AS stalled,
           coalesce(bool_or(o < prev_o) OVER w9, false) AS rewound,
           NOT coalesce(bool_or(lag_c < prev_lag) OVER w9, false) AS not_decreasing,
           list(o) OVER w10 AS window_offsets,
           list(lag_c) OVER w10 AS window_lags
    FROM stepped
    WINDOW k AS (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts),
           w10 AS (k ROWS BETWEEN $intervals - 1 PRECEDING AND CURRENT ROW),
           w9 AS (k ROWS BETWEEN $intervals - 2 PRECEDING AND CURRENT ROW)
)
SELECT s.cluster, s.group_id, s.topic, s."partition", s.ts AS "at", s.o AS committed_offset, s.hwm AS high_watermark,
       greatest(s.hwm - s.o, 0) AS lag,
       CASE
           WHEN f.n IS NULL OR f.n < $intervals THEN 'OK'
           WHEN coalesce(s.hwm - f.o, 0) <= 0 OR f.any_zero THEN 'OK'
           WHEN f.rewound THEN 'REWIND'
           WHEN s.ts - f.ts > f.ts - f.first_ts THEN 'STOP'
           WHEN f.stalled THEN 'STALL'
           WHEN f.not_decreasing THEN 'WARN'
           ELSE 'OK'
       END AS status,
       f.n AS commits, f.first_ts AS window_first, f.ts AS window_last,
       coalesce(f.n >= $intervals AND coalesce(s.hwm - f.o, 0) > 0 AND NOT f.any_zero AND NOT f.rewound, false)
           AS judged,
       f.window_offsets, f.window_lags
FROM snap s
ASOF LEFT JOIN framed f
  ON f.cluster = s.cluster AND f.group_id = s.group_id AND f.topic = s.topic
 AND f."partition" = s."partition" AND s.ts >= f.seen
WHERE s.ts >= s.t_min
"""

_TIME_LAG = """
CREATE OR REPLACE TEMP TABLE _tl AS
WITH tp AS (
    SELECT cluster, topic, "partition", min(t_min) - to_microseconds($context_us) AS since FROM _scope GROUP BY ALL
), raw AS (
    SELECT o.cluster, o.topic, o."partition", o.high_watermark AS end_offset, o.observed_at AS ts
    FROM topic_offsets o JOIN tp ON tp.cluster = o.cluster AND tp.topic = o.topic AND tp."partition" = o."partition"
    WHERE o.observed_at >= tp.since AND o.high_watermark IS NOT NULL
    UNION ALL
    SELECT g.cluster, g.topic, g."partition", g.high_watermark, g.polled_at
    FROM group_offsets g JOIN tp ON tp.cluster = g.cluster AND tp.topic = g.topic AND tp."partition" = g."partition"
    WHERE g.polled_at >= tp.since AND g.high_watermark IS NOT NULL
), mono AS (
    SELECT * FROM raw
    QUALIFY end_offset >= coalesce(max(end_offset) OVER (
        PARTITION BY cluster, topic, "partition" ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
        end_offset)
), pts AS (
    SELECT cluster, topic, "partition", end_offset, -end_offset AS neg, min(ts) AS first_ts, max(ts) AS last_ts
    FROM mono GROUP BY ALL
), head AS (
    SELECT cluster, topic, "partition", arg_min(end_offset, ts) AS off0, min(ts) AS ts0 FROM mono GROUP BY ALL
), rec AS (
    SELECT r.cluster, r.topic, r."partition", r."offset", min(r."timestamp") AS "timestamp"
    FROM records r JOIN tp ON tp.cluster = r.cluster AND tp.topic = r.topic AND tp."partition" = r."partition"
    WHERE r."timestamp" >= tp.since - to_microseconds($context_us) GROUP BY ALL
), x AS (
    SELECT s.cluster, s.group_id, s.topic, s."partition", s."at", s.committed_offset, s.high_watermark,
           rec."timestamp" AS record_timestamp, l.end_offset AS l_off, l.last_ts AS l_ts,
           r.end_offset AS r_off, r.first_ts AS r_ts, h.off0, h.ts0, t.end_offset AS t_off, t.ts AS t_ts
    FROM _cs s
    ASOF LEFT JOIN pts l ON l.cluster = s.cluster AND l.topic = s.topic AND l."partition" = s."partition"
        AND s.committed_offset >= l.end_offset
    ASOF LEFT JOIN pts r ON r.cluster = s.cluster AND r.topic = s.topic AND r."partition" = s."partition"
        AND -(s.committed_offset + 1) >= r.neg
    ASOF LEFT JOIN mono t ON t.cluster = s.cluster AND t.topic = s.topic AND t."partition" = s."partition"
        AND s."at" >= t.ts
    LEFT JOIN head h ON h.cluster = s.cluster AND h.topic = s.topic AND h."partition" = s."partition"
    LEFT JOIN rec ON rec.cluster = s.cluster AND rec.topic = s.topic AND rec."partition" = s."partition"
        AND rec."offset" = s.committed_offset
    WHERE s.committed_offset IS NOT NULL
), m AS (
    SELECT *,
        CASE
            WHEN committed_offset >= coalesce(high_watermark, t_off, committed_offset) OR r_off IS NULL
                THEN 'caught_up'
            WHEN record_timestamp IS NOT NULL THEN 'exact'
            WHEN l_off IS NOT NULL THEN 'interpolated'
            WHEN off0 IS NOT NULL AND t_off > off0 AND t_ts > ts0 THEN 'extrapolated'
            ELSE 'too_few_points'
        END AS method,
        CASE
            WHEN l_off IS NOT NULL THEN r_ts - to_microseconds(CAST(
                (r_off - committed_offset) * date_diff('microsecond', l_ts, r_ts) / (r_off - l_off) AS BIGINT))
            WHEN t_off > off0 AND t_ts > ts0 THEN t_ts - to_microseconds(CAST(
                (t_off - committed_offset) * date_diff('microsecond', ts0, t_ts) / (t_off - off0) AS BIGINT))
        END AS produced
    FROM x
)
SELECT cluster, group_id, topic, "partition", "at", method,
       CASE method
           WHEN 'caught_up' THEN 0.0
           WHEN 'exact' THEN date_diff('microsecond', record_timestamp, "at") / 1e6
           WHEN 'too_few_points' THEN NULL
           ELSE greatest(date_diff('microsecond', produced, "at") / 1e6, 0.0)
       END AS time_lag_s
FROM m
"""

_INSERT = """
INSERT INTO consumer_status
SELECT s.cluster, s.group_id, s.topic, s."partition", s."at", s.committed_offset, s.high_watermark, s.lag,
       s.status, s.commits, s.window_first, s.window_last, s.judged, s.window_offsets, s.window_lags,
       t.time_lag_s, t.method
FROM _cs s
LEFT JOIN _tl t ON t.cluster = s.cluster AND t.group_id = s.group_id AND t.topic = s.topic
               AND t."partition" = s."partition" AND t."at" = s."at"
ORDER BY s."at"
"""


def derive_consumer_status(cur: duckdb.DuckDBPyConnection) -> int:
    """Judge the snapshots that arrived since the last call (inside the caller's transaction)."""
    scan = new_rows(cur, "group_offsets")
    if scan is None:
        return 0
    since, upto = scan
    # every partition with new snapshots is judged again from its oldest new one on
    cur.execute(
        """
        CREATE OR REPLACE TEMP TABLE _scope AS
        SELECT cluster, group_id, topic, "partition", min(polled_at) AS t_min FROM group_offsets
        WHERE (?::TIMESTAMP IS NULL OR ingested_at > ?::TIMESTAMP) AND ingested_at <= ?
        GROUP BY ALL
        """,
        [since, since, upto],
    )
    cur.execute(
        """
        DELETE FROM consumer_status c USING _scope s
        WHERE c.cluster = s.cluster AND c.group_id = s.group_id AND c.topic = s.topic
          AND c."partition" = s."partition" AND c."at" >= s.t_min
        """
    )
    params = {"context_us": _us(CONTEXT), "min_distance_us": _us(MIN_DISTANCE), "intervals": INTERVALS}
    cur.execute(_STATUS, params)
    cur.execute(_TIME_LAG, {"context_us": _us(CONTEXT)})
    n = cur.execute(_INSERT).fetchone()
    mark_scanned(cur, "group_offsets", upto)
    for name in ("_scope", "_cs", "_tl"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    return int(n[0]) if n else 0


def _us(d: timedelta) -> int:
    return int(d / timedelta(microseconds=1))
