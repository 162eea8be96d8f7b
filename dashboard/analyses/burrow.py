"""Consumer status by Burrow's rules (docs/architecture.md#event-lag), read from the derived consumer_status table.

collectors.derive.consumer judges every offset snapshot once, as it arrives (the rules,
and how snapshots stand in for Burrow's commits, are described there). Here pages read
those verdicts: per partition at the window's end, per group, over time, and as
CONSUMER_LAG findings. The group's status is its worst partition's, with STOP, STALL and
REWIND shown as ERR, as Burrow does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd

from collectors.derive.consumer import INTERVALS
from dashboard.analyses.window import Window
from dashboard.findings.model import plural

STATUSES = ("OK", "WARN", "ERR", "STOP", "STALL", "REWIND")
_RANK = {"OK": 0, "WARN": 1, "ERR": 2, "STOP": 3, "STALL": 4, "REWIND": 5}
_RANK_SQL = "CASE status WHEN 'WARN' THEN 1 WHEN 'STOP' THEN 3 WHEN 'STALL' THEN 4 WHEN 'REWIND' THEN 5 ELSE 0 END"

# The newest verdict of each partition; STOP is judged again against "now" (the window's end,
# capped at the newest poll), since a stopped group sends no snapshot to be judged at: by
# Burrow's rule (now - last commit > the time its window of commits spans), or by the
# stricter one (owing messages and no commit for longer than stop_after_s).
_LATEST = """
WITH latest AS (
    SELECT *,
           CASE WHEN status NOT IN ('STOP', 'REWIND') AND lag > 0 AND stop_after_s IS NOT NULL
                     AND $now - stuck_since > to_microseconds(CAST(stop_after_s * 1e6 AS BIGINT)) THEN 'silent'
                WHEN status NOT IN ('STOP', 'REWIND') AND judged
                     AND $now - window_last > window_last - window_first THEN 'stopped' END AS later
    FROM consumer_status
    WHERE "at" >= $start AND "at" < $end AND ($group IS NULL OR group_id = $group)
    QUALIFY row_number() OVER (PARTITION BY cluster, group_id, topic, "partition" ORDER BY "at" DESC) = 1
)
SELECT cluster, group_id, topic, "partition",
       CASE WHEN later IS NOT NULL THEN 'STOP' ELSE status END AS status,
       CASE later
           WHEN 'silent' THEN format('{} messages wait and nothing was committed for {} s, longer than {} s',
                                     lag, round(epoch($now - stuck_since), 1), round(stop_after_s, 1))
           WHEN 'stopped' THEN format('stopped committing: {} s since the last commit, more than the {} s its {} '
                                      'commits spanned; {} messages wait', round(epoch($now - window_last), 1),
                                      round(epoch(window_last - window_first), 1), commits, lag)
           ELSE reason END AS reason,
       lag AS current_lag, committed_offset, high_watermark, commits, commits / $intervals AS complete,
       window_first AS first_commit, window_last AS last_commit, stuck_since, members, window_offsets,
       window_lags, "at"
FROM latest
ORDER BY cluster, group_id, topic, "partition"
"""

_OVER_TIME = """
SELECT cluster, group_id, topic, "partition", "at", status, lag, reason, committed_offset, high_watermark, members
FROM consumer_status
WHERE "at" >= $start AND "at" < $end AND ($group IS NULL OR group_id = $group)
ORDER BY cluster, group_id, topic, "partition", "at"
"""

_GROUP_OVER_TIME = f"""
WITH last_in_bucket AS (
    SELECT cluster, group_id, topic, "partition", time_bucket(to_microseconds($bucket_us), "at") AS bucket,
           max({_RANK_SQL}) AS worst, arg_max(lag, "at") AS lag
    FROM consumer_status
    WHERE "at" >= $start AND "at" < $end AND ($group IS NULL OR group_id = $group)
    GROUP BY ALL
)
SELECT cluster, group_id, bucket AS "at", max(worst) AS worst, sum(lag) AS lag
FROM last_in_bucket GROUP BY ALL ORDER BY cluster, group_id, "at"
"""  # noqa: S608 (constant SQL text)

_BAD = f"""
WITH bad AS (
    SELECT *, {_RANK_SQL} AS rank FROM consumer_status
    WHERE "at" >= $start AND "at" < $end AND status <> 'OK'
), grp AS (
    SELECT cluster, group_id, min("at") AS first_seen, max("at") AS last_seen FROM bad GROUP BY ALL
), parts AS (
    SELECT cluster, group_id, topic, "partition", arg_max(status, rank) AS worst FROM bad GROUP BY ALL
), firsts AS (
    SELECT cluster, group_id, status, min("at") AS first_at FROM bad GROUP BY ALL
), final AS (
    SELECT c.cluster, c.group_id, c.topic, c."partition", arg_max(c.lag, c."at") AS lag
    FROM consumer_status c JOIN grp g ON g.cluster = c.cluster AND g.group_id = c.group_id
    WHERE c."at" >= $start AND c."at" <= g.last_seen
    GROUP BY ALL
)
SELECT g.cluster, g.group_id, g.first_seen, g.last_seen,
       (SELECT map(list(topic || '/' || "partition" ORDER BY topic, "partition"),
                   list(worst ORDER BY topic, "partition"))
        FROM parts p WHERE p.cluster = g.cluster AND p.group_id = g.group_id) AS partitions,
       (SELECT map(list(status ORDER BY status), list(first_at ORDER BY status))
        FROM firsts f WHERE f.cluster = g.cluster AND f.group_id = g.group_id) AS first_at,
       (SELECT map(list(topic || '/' || "partition" ORDER BY topic, "partition"),
                   list(lag ORDER BY topic, "partition"))
        FROM final f WHERE f.cluster = g.cluster AND f.group_id = g.group_id AND f.lag IS NOT NULL) AS final_lag
FROM grp g
ORDER BY g.cluster, g.group_id
"""  # noqa: S608 (constant SQL text)


def group_status(partition_statuses: Sequence[str]) -> str:
    """Burrow's group status: the worst partition, with STOP/STALL/REWIND reported as ERR."""
    worst_status = max(partition_statuses, key=_RANK.__getitem__, default="OK")
    return "ERR" if _RANK[worst_status] >= _RANK["ERR"] else worst_status


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default="OK")


def _bucket_us(window: Window, bucket: timedelta | None, buckets: int = 120) -> int:
    if bucket is None:
        raw = (window.end - window.start) / buckets
        steps = [timedelta(seconds=s) for s in (1, 5, 10, 15, 30, 60, 300, 600, 1800, 3600, 21600, 86400)]
        bucket = next((s for s in steps if s >= raw), steps[-1])
    return int(bucket / timedelta(microseconds=1))


def partition_status(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """Each partition's Burrow status at the window's end, with its window of commits."""
    newest = con.execute("SELECT max(polled_at) FROM group_offsets WHERE polled_at < ?", [window.end]).fetchone()
    now = min(window.end, newest[0]) if newest and newest[0] is not None else window.end
    return con.execute(_LATEST, {"start": window.start, "end": window.end, "group": group, "now": now,
                                 "intervals": INTERVALS}).df()


def group_statuses(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """Each group's Burrow status (OK, WARN, ERR), its worst partition and total lag."""
    parts = partition_status(con, window, group=group)
    if parts.empty:
        return pd.DataFrame(columns=["cluster", "group_id", "status", "worst_partition_status", "partitions",
                                     "non_ok_partitions", "total_lag", "max_lag", "max_lag_topic",
                                     "max_lag_partition"])
    out = []
    for (cluster, grp), g in parts.groupby(["cluster", "group_id"], sort=True):
        statuses = list(g["status"])
        top = g.sort_values(["current_lag", "topic", "partition"], ascending=[False, True, True]).iloc[0]
        out.append({"cluster": cluster, "group_id": grp, "status": group_status(statuses),
                    "worst_partition_status": worst(statuses), "partitions": len(g),
                    "non_ok_partitions": int(sum(s != "OK" for s in statuses)),
                    "total_lag": int(g["current_lag"].fillna(0).sum()), "max_lag": top["current_lag"],
                    "max_lag_topic": top["topic"], "max_lag_partition": int(top["partition"])})
    return pd.DataFrame(out)


def status_over_time(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None) -> pd.DataFrame:
    """Every partition's status at each of its snapshots in the window (as judged when it arrived)."""
    return con.execute(_OVER_TIME, {"start": window.start, "end": window.end, "group": group}).df()


def group_status_over_time(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                           bucket: timedelta | None = None) -> pd.DataFrame:
    """Each group's worst status per time bucket (ERR for STOP/STALL/REWIND), and its lag at the bucket's end."""
    df = con.execute(_GROUP_OVER_TIME, {"start": window.start, "end": window.end, "group": group,
                                        "bucket_us": _bucket_us(window, bucket)}).df()
    names = {rank: name for name, rank in _RANK.items()}
    df["worst_partition_status"] = df["worst"].map(names)
    df["status"] = df["worst_partition_status"].map(lambda s: group_status([s]))
    return df.drop(columns=["worst"])


def bad_groups(con: duckdb.DuckDBPyConnection, window: Window) -> list[tuple[Any, ...]]:
    """Groups with a partition not OK in the window: (cluster, group, first seen, last seen,
    worst status per partition, when each status was first seen, lag per partition at the last bad poll)."""
    return con.execute(_BAD, {"start": window.start, "end": window.end}).fetchall()


# Per poll of a group: its total offset lag and its worst partition's time lag.
_OVER_LIMITS = """
WITH polls AS (
    SELECT cluster, group_id, "at", sum(lag) AS lag, max(time_lag_s) AS time_lag_s
    FROM consumer_status
    WHERE "at" >= $start AND "at" < $end AND group_id = $group
    GROUP BY ALL
)
SELECT cluster, min("at"), max("at"), count(*), max(lag), max(time_lag_s), arg_max(lag, "at")
FROM polls
WHERE ($max_lag IS NOT NULL AND lag > $max_lag) OR ($max_time IS NOT NULL AND time_lag_s > $max_time)
GROUP BY cluster
ORDER BY cluster
"""


def _seconds_text(s: float) -> str:
    return f"{s:g}s" if s < 60 or s % 60 else f"{s / 60:g}m"


def limit_breaches(con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> dict[str, dict[str, Any]]:
    """Declared groups whose max_lag_messages or max_time_lag was exceeded in the window."""
    out: dict[str, dict[str, Any]] = {}
    for g in (topology.groups.values() if topology is not None else ()):
        max_lag, max_time = getattr(g, "max_lag_messages", None), getattr(g, "max_time_lag_seconds", None)
        if max_lag is None and max_time is None:
            continue
        for cluster, first, last, polls, lag_seen, time_seen, lag_last in con.execute(
                _OVER_LIMITS, {"start": window.start, "end": window.end, "group": g.name, "max_lag": max_lag,
                               "max_time": max_time}).fetchall():
            over = []
            if max_lag is not None and lag_seen is not None and lag_seen > max_lag:
                over.append(f"{plural(int(lag_seen), 'message')} behind (declared max_lag_messages {max_lag})")
            if max_time is not None and time_seen is not None and time_seen > max_time:
                over.append(f"{time_seen:.0f} s behind (declared max_time_lag {_seconds_text(max_time)})")
            out[g.name] = {"cluster": cluster, "first_seen": first, "last_seen": last, "polls": int(polls),
                           "lag_last": int(lag_last or 0), "text": " and ".join(over),
                           "evidence": {"max_lag_messages": max_lag, "lag_seen": None if lag_seen is None
                                        else int(lag_seen), "max_time_lag_s": max_time,
                                        "time_lag_seen_s": None if time_seen is None else float(time_seen),
                                        "polls_over": int(polls)}}
    return out
