"""Consumer status per offset snapshot: Burrow's rules and time lag, derived in SQL (docs/architecture.md#event-lag).

Burrow (linkedin/Burrow, evaluator "caching") keeps the last ``INTERVALS`` commits of each
partition (commits closer than ``MIN_DISTANCE`` to the previous one replace it and keep its
time), each with the lag at commit time, and judges the window:

1. the current lag is zero → OK;
2. now − last commit > last commit − first commit (the consumer stopped committing), unless
   the broker's recent end offsets show it caught up after its last commit → STOP;
3. the lag was zero at any commit in the window → OK;
4. the committed offset ever went backwards → REWIND;
5. every commit has the same offset (committing, but not moving) → STALL;
6. the offsets move but the lag never decreases from one commit to the next → WARN;
7. otherwise OK. A group is its worst partition, with STOP, STALL and REWIND shown as ERR.

Seamwatch sees commits through the lag poller's snapshots, not the __consumer_offsets
stream, so a snapshot counts as a commit when the committed offset moved, or when the group
has members (a live consumer commits on its auto-commit interval even when stuck); a group
without members whose offset stands still is not committing, and ages into STOP. Windows that
are not full yet are judged too, as Burrow does, except that STALL and WARN need half a
window (MIN_TREND commits): over fewer, a rebalance or one message in flight reads as a
trend. Commits in one min-distance slot (slots aligned on the epoch) are one entry, where
Burrow measures the distance from the first of them: at the poller's 0.5 s fastest, every
second poll or so merges.

Stricter than Burrow (issue 12), checked before its rules: a group that had members and
now has none (state empty) while messages wait is STOP; and a partition owing messages
with no commit for longer than STOP_FACTOR times the group's slowest commit interval in its
windows (STOP_AFTER_DEFAULT while the window holds one commit), counted from the last commit
or from the first poll after it that found the partition behind, is STOP. Burrow's own STOP
rule comes next, with its "recently caught up" exception (a poll after the last commit, one
of the last INTERVALS, found the end offset at the committed one). Every verdict other than
OK says why (``reason``).

Time lag is Kafka Lag Exporter's estimate, in SQL: points are (end offset, time) from both
polls, non-monotonic ones dropped; per end offset we keep when the end first reached it and
the last time it still stood there (a flat stretch is two points in KLE's table). Around a
committed offset c the left point is the largest end offset <= c at its last time, the
right one the smallest end offset > c at its first time (``interpolated``); older than every
point, the trend of the whole table (``extrapolated``). Where the tap holds the record at the
committed offset, the exact snapshot time − its broker timestamp (``exact``), unless that
timestamp is more than CLOCK_SKEW outside the stretch in which the end offset passed the record,
ahead of when the tap read it, or behind the record before it (a producer clock off, or a
republisher keeping its input's time): then the estimate.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from collectors.derive.watermark import mark_scanned, new_rows

INTERVALS = 10  # Burrow's default storage.intervals
MIN_TREND = INTERVALS // 2  # commits STALL and WARN need (STOP and REWIND are judged from any window)
MIN_DISTANCE = timedelta(seconds=1)  # Burrow's default min-distance
STOP_FACTOR = 2  # no commit for longer than this many times the group's slowest commit interval: STOP
STOP_AFTER_DEFAULT = timedelta(seconds=30)  # the same limit while the window holds a single commit
# a record's CreateTime further than this from when the end offset passed it is no clock drift to
# shrug at: the exact time lag would report the clock, not the lag (PRODUCER_CLOCK_SKEW flags it)
CLOCK_SKEW = timedelta(hours=1)
CONTEXT = timedelta(hours=1)  # snapshots before the new ones that a window (and KLE's table) may reach back to

# _scope(cluster, group_id, topic, partition, t_min): the partitions to judge, from t_min on.
_STATUS = """
CREATE OR REPLACE TEMP TABLE _cs AS
WITH snap0 AS (
    SELECT g.cluster, g.group_id, g.topic, g."partition", g.committed_offset AS o, g.members, g.state,
           g.polled_at AS ts, c.t_min,
           last_value(g.high_watermark IGNORE NULLS) OVER w AS hwm,
           lag(g.committed_offset) OVER w AS prev_o,
           coalesce(bool_or(coalesce(g.members, 0) > 0) OVER w, false) AS had_members,
           row_number() OVER w AS sn,
           lead(g.polled_at) OVER (PARTITION BY g.cluster, g.group_id, g.topic, g."partition" ORDER BY g.polled_at)
               AS next_ts
    FROM group_offsets g
    JOIN _scope c ON c.cluster = g.cluster AND c.group_id = g.group_id AND c.topic = g.topic
                 AND c."partition" = g."partition"
    WHERE g.polled_at >= c.t_min - to_microseconds($context_us)
    WINDOW w AS (PARTITION BY g.cluster, g.group_id, g.topic, g."partition" ORDER BY g.polled_at
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), snap AS (
    -- the last poll that found the partition caught up (end offset <= committed offset), and
    -- the poll after it: the first to see messages owed
    SELECT *, max(CASE WHEN hwm <= o THEN ts END) OVER w AS caught_at,
              max(CASE WHEN hwm <= o THEN next_ts END) OVER w AS owing_since,
              max(CASE WHEN hwm <= o THEN sn END) OVER w AS caught_sn
    FROM snap0
    WINDOW w AS (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), commits AS (
    SELECT *, greatest(coalesce(hwm, o) - o, 0) AS lag_c,
           -- commits in one min-distance slot (aligned on the epoch, so every pass cuts alike) are one entry
           time_bucket(to_microseconds($min_distance_us), ts) AS island
    FROM snap
    WHERE o IS NOT NULL AND (prev_o IS DISTINCT FROM o OR coalesce(members, 0) > 0)
), islands AS (
    SELECT * FROM commits
), entries AS (
    SELECT cluster, group_id, topic, "partition", min(ts) AS ts, max(ts) AS seen,
           arg_max(o, ts) AS o, arg_max(lag_c, ts) AS lag_c
    FROM islands GROUP BY cluster, group_id, topic, "partition", island
), stepped AS (
    SELECT *, lag(o) OVER k AS prev_o, lag(lag_c) OVER k AS prev_lag, ts - lag(ts) OVER k AS gap
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
           max(gap) OVER w9 AS cadence,
           list(o) OVER w10 AS window_offsets,
           list(lag_c) OVER w10 AS window_lags
    FROM stepped
    WINDOW k AS (PARTITION BY cluster, group_id, topic, "partition" ORDER BY ts),
           w10 AS (k ROWS BETWEEN $intervals - 1 PRECEDING AND CURRENT ROW),
           w9 AS (k ROWS BETWEEN $intervals - 2 PRECEDING AND CURRENT ROW)
), joined AS (
    SELECT s.cluster, s.group_id, s.topic, s."partition", s.ts, s.o, s.hwm, s.members, s.state, s.had_members,
           f.n, f.ts AS last_ts, f.seen, f.first_ts, f.o AS f_o, f.any_zero, f.stalled, f.rewound,
           f.not_decreasing, f.window_offsets, f.window_lags, f.cadence,
           greatest(s.hwm - f.o, 0) AS cur_lag,
           -- the consumer has owed messages since its last commit, or since the first poll after it that
           -- found it behind, whichever is later
           greatest(f.seen, s.owing_since) AS stuck_since,
           -- Burrow's checkIfRecentLagZero: caught up at one of the last polls after the last commit
           coalesce(s.caught_at > f.seen AND s.sn - s.caught_sn < $intervals, false) AS recent_zero,
           -- the group's slowest commit rhythm at this poll (its partitions are polled together)
           max(f.cadence) OVER (PARTITION BY s.cluster, s.group_id, s.ts) AS group_cadence
    FROM snap s
    -- the entry whose slot holds this snapshot's commit (judged with what that slot ends up
    -- holding: at most one min-distance of look-ahead), else the last one before it
    ASOF LEFT JOIN framed f
      ON f.cluster = s.cluster AND f.group_id = s.group_id AND f.topic = s.topic
     AND f."partition" = s."partition" AND s.ts >= f.ts
    WHERE s.ts >= s.t_min
), limits AS (
    SELECT *,
           coalesce(group_cadence * $stop_factor, to_microseconds($stop_default_us)) AS stop_after,
           group_cadence IS NOT NULL AS cadence_known
    FROM joined
), rules AS (
    SELECT *,
           CASE
               WHEN n IS NULL OR coalesce(cur_lag, 0) <= 0 THEN NULL
               -- stricter than Burrow: a group whose members all left while messages wait is in error
               WHEN coalesce(members, 0) = 0 AND had_members AND coalesce(lower(state), 'empty') IN ('empty', 'dead')
                   THEN 'left'
               -- stricter than Burrow: owing messages and not committing for longer than the group's rhythm
               WHEN ts - stuck_since > stop_after THEN 'silent'
               -- Burrow: now - last commit > last commit - first commit, unless caught up recently (the last
               -- commit is the newest one merged into the window's last entry)
               WHEN ts - seen > seen - first_ts AND NOT recent_zero THEN 'stopped'
               WHEN any_zero THEN NULL
               WHEN rewound THEN 'rewound'
               -- a trend needs half a window (as Burrow's incomplete-group test judges one); fewer
               -- commits, a rebalance or one message in flight, would read as STALL or WARN
               WHEN n < $min_trend THEN NULL
               WHEN stalled THEN 'stalled'
               WHEN not_decreasing THEN 'slow'
           END AS rule
    FROM limits
)
SELECT cluster, group_id, topic, "partition", ts AS "at", o AS committed_offset, hwm AS high_watermark,
       greatest(hwm - o, 0) AS lag,
       CASE WHEN rule IS NULL THEN 'OK' WHEN rule = 'rewound' THEN 'REWIND' WHEN rule = 'stalled' THEN 'STALL'
            WHEN rule = 'slow' THEN 'WARN' ELSE 'STOP' END AS status,
       n AS commits, first_ts AS window_first, seen AS window_last,
       -- Burrow's STOP rule may still apply as time passes without a new snapshot
       coalesce(cur_lag > 0 AND NOT recent_zero AND NOT coalesce(rewound AND NOT any_zero, false), false) AS judged,
       window_offsets, window_lags,
       CASE rule
           WHEN 'left' THEN format('no members: every consumer left the group while {} messages wait', cur_lag)
           WHEN 'silent' THEN format('{} messages wait and nothing was committed for {} s, longer than {} s ({})',
                                     cur_lag, round(epoch(ts - stuck_since), 1), round(epoch(stop_after), 1),
                                     CASE WHEN cadence_known THEN format('{} x the group''s slowest commit interval',
                                                                        $stop_factor)
                                          ELSE 'the default for a group with one commit' END)
           WHEN 'stopped' THEN format('stopped committing: {} s since the last commit, more than the {} s its {} '
                                      'commits spanned; {} messages wait', round(epoch(ts - seen), 1),
                                      round(epoch(seen - first_ts), 1), n, cur_lag)
           WHEN 'rewound' THEN 'the committed offset went backwards within the last commits'
           WHEN 'stalled' THEN format('committing offset {} over and over while {} messages wait', f_o, cur_lag)
           WHEN 'slow' THEN format('the offsets move but the lag never fell over the last {} commits', n)
       END AS reason,
       stuck_since, epoch(stop_after) AS stop_after_s, members
FROM rules
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
), wanted AS (  -- the records read: at each committed offset, and the one before it
    SELECT DISTINCT cluster, topic, "partition", committed_offset - d AS "offset"
    FROM _cs, (VALUES (0), (1)) AS v(d) WHERE committed_offset IS NOT NULL
), rec AS (
    SELECT r.cluster, r.topic, r."partition", r."offset", min(r."timestamp") AS "timestamp",
           min(r.tapped_at) AS tapped_at
    FROM records r JOIN tp ON tp.cluster = r.cluster AND tp.topic = r.topic AND tp."partition" = r."partition"
    SEMI JOIN wanted w ON w.cluster = r.cluster AND w.topic = r.topic AND w."partition" = r."partition"
        AND w."offset" = r."offset"
    WHERE r."timestamp" >= tp.since - to_microseconds($context_us) GROUP BY ALL
), x AS (
    SELECT s.cluster, s.group_id, s.topic, s."partition", s."at", s.committed_offset, s.high_watermark,
           rec."timestamp" AS record_timestamp, rec.tapped_at AS record_tapped_at,
           prev."timestamp" AS prev_timestamp, prev.tapped_at AS prev_tapped_at, l.end_offset AS l_off, l.last_ts AS l_ts,
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
    LEFT JOIN rec prev ON prev.cluster = s.cluster AND prev.topic = s.topic AND prev."partition" = s."partition"
        AND prev."offset" = s.committed_offset - 1
    WHERE s.committed_offset IS NOT NULL
), m AS (
    SELECT *,
        CASE
            WHEN committed_offset >= coalesce(high_watermark, t_off, committed_offset) OR r_off IS NULL
                THEN 'caught_up'
            -- the record's CreateTime, unless its producer's clock is off by more than CLOCK_SKEW:
            -- outside the stretch in which the end offset passed it, ahead of when the tap read it,
            -- or behind the record before it (itself not ahead)
            WHEN record_timestamp IS NOT NULL
                 AND (l_ts IS NULL OR record_timestamp >= l_ts - to_microseconds($skew_us))
                 AND (r_ts IS NULL OR record_timestamp <= r_ts + to_microseconds($skew_us))
                 AND record_timestamp <= record_tapped_at + to_microseconds($skew_us)
                 AND (prev_timestamp IS NULL OR prev_timestamp > prev_tapped_at + to_microseconds($skew_us)
                      OR record_timestamp >= prev_timestamp - to_microseconds($skew_us)) THEN 'exact'
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
       t.time_lag_s, t.method, s.reason, s.stuck_since, s.stop_after_s, s.members
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
    params = {"context_us": _us(CONTEXT), "min_distance_us": _us(MIN_DISTANCE), "intervals": INTERVALS,
              "stop_factor": STOP_FACTOR, "stop_default_us": _us(STOP_AFTER_DEFAULT), "min_trend": MIN_TREND}
    cur.execute(_STATUS, params)
    cur.execute(_TIME_LAG, {"context_us": _us(CONTEXT), "skew_us": _us(CLOCK_SKEW)})
    n = cur.execute(_INSERT).fetchone()
    mark_scanned(cur, "group_offsets", upto)
    for name in ("_scope", "_cs", "_tl"):
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    return int(n[0]) if n else 0


def _us(d: timedelta) -> int:
    return int(d / timedelta(microseconds=1))
