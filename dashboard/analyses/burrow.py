"""Consumer status by Burrow's rules (DESIGN §5.2), over group_offsets snapshots.

Burrow (linkedin/Burrow, evaluator "caching") keeps the last ``intervals`` commits of each
partition (commits closer than ``min_distance`` to the previous one replace it and keep its
time), each with the lag at commit time, and judges the window:

1. the current lag is zero, or the lag was zero at any commit in the window → OK;
2. the committed offset ever went backwards → REWIND;
3. now − last commit > last commit − first commit (the consumer stopped committing) → STOP;
4. every commit has the same offset (committing, but not moving) → STALL;
5. the offsets move but the lag never decreases from one commit to the next → WARN;
6. otherwise OK.

The group's status is its worst partition's, with STOP, STALL and REWIND reported as ERR.

Burrow also judges a window that is not full yet and flags it incomplete; a single commit
with lag then reads as STALL. Seamwatch judges only full windows (``intervals`` commits),
so a group that just started, or a poller that just started, is not called stuck.

Seamwatch sees commits through the lag poller's snapshots, not the __consumer_offsets
stream, so a snapshot counts as a commit when the committed offset moved, or when the
group has members (a live consumer commits on its auto-commit interval even when stuck).
A group without members whose offset stands still is not committing: after a while that
reads as STOP, as it should. "Now" is the window's end, capped at the newest snapshot of
the cluster, so a paused poller never makes every group look stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.window import Window
from dashboard.findings.model import Finding

INTERVALS = 10  # Burrow's default storage.intervals
MIN_DISTANCE = timedelta(seconds=1)  # Burrow's default min-distance
STATUSES = ("OK", "WARN", "ERR", "STOP", "STALL", "REWIND")
_RANK = {"OK": 0, "WARN": 1, "ERR": 2, "STOP": 3, "STALL": 4, "REWIND": 5}

_SNAPSHOTS = """
SELECT cluster, group_id, topic, "partition", committed_offset, high_watermark, members, polled_at
FROM group_offsets
WHERE polled_at < $end AND polled_at >= $since
  AND ($group IS NULL OR group_id = $group)
ORDER BY cluster, group_id, topic, "partition", polled_at
"""

_NEWEST = "SELECT cluster, max(polled_at) FROM group_offsets WHERE polled_at < $end GROUP BY cluster"


@dataclass(frozen=True)
class Commit:
    offset: int
    at: datetime
    lag: int


def evaluate(commits: Sequence[Commit], current_lag: int, now: datetime) -> str:
    """Burrow's partition status of one window of commits (oldest first)."""
    if not commits or current_lag <= 0 or any(c.lag == 0 for c in commits):
        return "OK"
    if any(b.offset < a.offset for a, b in zip(commits, commits[1:], strict=False)):
        return "REWIND"
    if now - commits[-1].at > commits[-1].at - commits[0].at:
        return "STOP"
    if all(c.offset == commits[0].offset for c in commits):
        return "STALL"
    if all(b.lag >= a.lag for a, b in zip(commits, commits[1:], strict=False)):
        return "WARN"
    return "OK"


def group_status(partition_statuses: Sequence[str]) -> str:
    """Burrow's group status: the worst partition, with STOP/STALL/REWIND reported as ERR."""
    worst = max(partition_statuses, key=_RANK.__getitem__, default="OK")
    return "ERR" if _RANK[worst] >= _RANK["ERR"] else worst


def worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default="OK")


class _Ring:
    """One partition's commit window, filled the way Burrow's storage fills it."""

    def __init__(self, intervals: int, min_distance: timedelta) -> None:
        self.intervals, self.min_distance = intervals, min_distance
        self.commits: list[Commit] = []
        self.last_offset: int | None = None
        self.hwm = 0

    def add(self, offset: int | None, hwm: int | None, members: int | None, at: datetime) -> None:
        if hwm is not None:
            self.hwm = hwm
        if offset is None:
            return
        moved = offset != self.last_offset
        self.last_offset = offset
        if not moved and not (members or 0) > 0:
            return  # nobody is committing: the snapshot only repeats the stored offset
        lag = max(0, (hwm if hwm is not None else self.hwm) - offset)
        if self.commits and at - self.commits[-1].at < self.min_distance:
            self.commits[-1] = Commit(offset, self.commits[-1].at, lag)
            return
        self.commits.append(Commit(offset, at, lag))
        if len(self.commits) > self.intervals:
            del self.commits[0]

    def status(self, now: datetime) -> str:
        if len(self.commits) < self.intervals:
            return "OK"  # an incomplete window says nothing yet
        current = max(0, self.hwm - self.last_offset) if self.last_offset is not None else 0
        return evaluate(self.commits, current, now)


def _snapshots(con: duckdb.DuckDBPyConnection, window: Window, group: str | None,
               lookback: timedelta) -> tuple[pd.DataFrame, dict[str, datetime]]:
    df = con.execute(_SNAPSHOTS, {"end": window.end, "since": window.start - lookback, "group": group}).df()
    newest = dict(con.execute(_NEWEST, {"end": window.end}).fetchall())
    return df, newest


def _partitions(df: pd.DataFrame) -> Iterator[tuple[tuple[Any, ...], pd.DataFrame]]:
    if df.empty:
        return iter(())
    return iter(df.groupby(["cluster", "group_id", "topic", "partition"], sort=True))


def partition_status(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                     intervals: int = INTERVALS, min_distance: timedelta = MIN_DISTANCE,
                     lookback: timedelta = timedelta(hours=1)) -> pd.DataFrame:
    """Each partition's Burrow status at the window's end, with its window of commits."""
    df, newest = _snapshots(con, window, group, lookback)
    rows = []
    for (cluster, grp, topic, partition), part in _partitions(df):
        ring = _Ring(intervals, min_distance)
        for r in part.itertuples(index=False):
            ring.add(_int(r.committed_offset), _int(r.high_watermark), _int(r.members), r.polled_at)
        now = min(window.end, newest.get(cluster, window.end))
        c = ring.commits
        rows.append({
            "cluster": cluster, "group_id": grp, "topic": topic, "partition": int(partition),
            "status": ring.status(now),
            "current_lag": max(0, ring.hwm - ring.last_offset) if ring.last_offset is not None else None,
            "committed_offset": ring.last_offset, "high_watermark": ring.hwm,
            "commits": len(c), "complete": len(c) / intervals,
            "first_commit": c[0].at if c else None, "last_commit": c[-1].at if c else None,
            "window_offsets": [x.offset for x in c], "window_lags": [x.lag for x in c],
        })
    return pd.DataFrame(rows, columns=_PARTITION_COLUMNS)


_PARTITION_COLUMNS = ["cluster", "group_id", "topic", "partition", "status", "current_lag", "committed_offset",
                      "high_watermark", "commits", "complete", "first_commit", "last_commit", "window_offsets",
                      "window_lags"]


def group_statuses(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                   **kw: Any) -> pd.DataFrame:
    """Each group's Burrow status (OK, WARN, ERR), its worst partition and total lag."""
    parts = partition_status(con, window, group=group, **kw)
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


def status_over_time(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                     intervals: int = INTERVALS, min_distance: timedelta = MIN_DISTANCE,
                     lookback: timedelta = timedelta(hours=1)) -> pd.DataFrame:
    """Every partition's status evaluated at each of its snapshots in the window (sliding)."""
    df, _ = _snapshots(con, window, group, lookback)
    rows = []
    for (cluster, grp, topic, partition), part in _partitions(df):
        ring = _Ring(intervals, min_distance)
        for r in part.itertuples(index=False):
            ring.add(_int(r.committed_offset), _int(r.high_watermark), _int(r.members), r.polled_at)
            if r.polled_at >= window.start:
                rows.append({"cluster": cluster, "group_id": grp, "topic": topic, "partition": int(partition),
                             "at": r.polled_at, "status": ring.status(r.polled_at),
                             "lag": max(0, ring.hwm - ring.last_offset) if ring.last_offset is not None else None})
    return pd.DataFrame(rows, columns=["cluster", "group_id", "topic", "partition", "at", "status", "lag"])


def _int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


def group_status_over_time(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                           **kw: Any) -> pd.DataFrame:
    """Each group's Burrow status at each poll: its partitions' latest statuses, worst first."""
    parts = status_over_time(con, window, group=group, **kw)
    cols = ["cluster", "group_id", "at", "status", "worst_partition_status", "lag"]
    if parts.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (cluster, grp), g in parts.groupby(["cluster", "group_id"], sort=True):
        latest: dict[tuple[str, int], tuple[str, int]] = {}
        for at, at_rows in g.groupby("at", sort=True):
            for r in at_rows.itertuples(index=False):
                latest[(r.topic, r.partition)] = (r.status, 0 if r.lag is None or pd.isna(r.lag) else int(r.lag))
            statuses = [s for s, _ in latest.values()]
            rows.append({"cluster": cluster, "group_id": grp, "at": at, "status": group_status(statuses),
                         "worst_partition_status": worst(statuses), "lag": sum(n for _, n in latest.values())})
    return pd.DataFrame(rows, columns=cols)


_SEVERITY = {"WARN": "warning", "ERR": "error", "STOP": "error", "STALL": "error", "REWIND": "error"}


def findings(con: duckdb.DuckDBPyConnection, window: Window, topology: Any = None) -> list[Finding]:
    """CONSUMER_LAG: a group whose Burrow status was not OK in the window (WARN → warning, else error)."""
    parts = status_over_time(con, window)
    out: list[Finding] = []
    if parts.empty:
        return out
    bad = parts[parts["status"] != "OK"]
    for (cluster, grp), g in bad.groupby(["cluster", "group_id"], sort=True):
        partition_worst = {f"{t}/{p}": worst(list(s["status"])) for (t, p), s in g.groupby(["topic", "partition"])}
        status = worst(list(partition_worst.values()))
        firsts = {s: g.loc[g["status"] == s, "at"].min() for s in STATUSES if (g["status"] == s).any()}
        last = g["at"].max()
        everyone = parts[(parts["cluster"] == cluster) & (parts["group_id"] == grp) & (parts["at"] <= last)]
        final = everyone.sort_values("at").groupby(["topic", "partition"]).tail(1)
        lag_now = int(final["lag"].fillna(0).sum())
        out.append(Finding(
            rule="CONSUMER_LAG", severity=_SEVERITY[status], subject_kind="group", subject=grp,
            count=lag_now, first_seen=g["at"].min(), last_seen=last,
            summary=(f"{grp} was {group_status([status])} by Burrow's rules ({status} on "
                     f"{len(partition_worst)} partition(s)); {lag_now} messages behind at the last bad poll"),
            remedy=_REMEDY[status],
            evidence={"cluster": cluster, "status": group_status([status]), "worst_partition_status": status,
                      "partitions": partition_worst, "first_at": {s: t.isoformat() for s, t in firsts.items()},
                      "final_lag": {f"{r.topic}/{r.partition}": int(r.lag) for r in final.itertuples()
                                    if r.lag is not None and not pd.isna(r.lag)}},
        ))
    return out


_REMEDY = {
    "WARN": "The group falls behind: scale its consumers (up to the partition count) or make processing cheaper.",
    "STALL": "The group commits but does not move: find the message or call it is stuck on.",
    "STOP": "The group stopped committing: check that its consumers run and can reach the broker.",
    "REWIND": "The group's offsets went backwards: find who reset them, and expect reprocessing.",
    "ERR": "The group is in error: check its partitions' statuses.",
}
