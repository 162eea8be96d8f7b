"""LAG_NEAR_RETENTION: a group so far behind on a topic that its retention will delete records
before the group reads them.

A topic whose cleanup.policy deletes (`delete`, or `compact,delete`) drops a log segment once its
records are older than `retention.ms`. A group whose time lag (the age of the oldest record it
has not read, dashboard/analyses/lag.py) reaches that age loses records it never processed: the
broker answers its next fetch with OFFSET_OUT_OF_RANGE and the group jumps to wherever its reset
policy says. Burrow's statuses never say so; this rule does, from the tap's and the lag poller's
reading of each topic's settings (`topic_configs`, collectors/kafka/topic_settings.py): a
warning at half the retention, an error at 80 % of it, the time left in the summary. Topics
whose settings are unknown and topics kept forever (`retention.ms` -1) are not judged.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.lag import retention, time_lag_latest
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, duration
from dashboard.findings.registry import Rule, register

WARN_SHARE = 0.5  # of the topic's retention, as time lag
ERROR_SHARE = 0.8


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    kept = {(r.cluster, r.topic): float(r.retention_s) for r in retention(con).itertuples(index=False)}
    if not kept:
        return []
    lags = time_lag_latest(con, window)
    lags = lags[lags["time_lag_s"].notna()]
    rows = []
    for r in lags.itertuples(index=False):
        kept_s = kept.get((r.cluster, r.topic))
        if kept_s is not None and r.time_lag_s >= WARN_SHARE * kept_s:
            rows.append({"cluster": r.cluster, "group": r.group_id, "topic": r.topic, "partition": int(r.partition),
                         "time_lag_s": float(r.time_lag_s), "retention_s": kept_s, "at": r.at,
                         "share": float(r.time_lag_s) / kept_s})
    out = []
    for grp, mine in pd.DataFrame(rows).groupby("group", sort=True) if rows else ():
        worst = mine.sort_values("share", ascending=False).iloc[0]
        left = worst["retention_s"] - worst["time_lag_s"]
        fate = (f"its oldest unread records are deleted in about {duration(left)} unless it catches up" if left > 0
                else "records were likely deleted before it read them")
        out.append(rule.finding(
            severity="error" if worst["share"] >= ERROR_SHARE else "warning", subject_kind="group", subject=str(grp),
            count=len(mine), first_seen=mine["at"].min(), last_seen=mine["at"].max(),
            summary=(f"{grp} is {duration(worst['time_lag_s'])} behind on {worst['topic']}, whose records are "
                     f"deleted after {duration(worst['retention_s'])} ({worst['share']:.0%} of it): {fate}"),
            evidence={"cluster": worst["cluster"], "partitions": [
                {"topic": p.topic, "partition": p.partition, "time_lag_s": round(p.time_lag_s, 1),
                 "retention_s": p.retention_s, "share": round(p.share, 3)}
                for p in mine.sort_values("share", ascending=False).itertuples(index=False)]},
        ))
    return out


RULE = register(Rule(
    id="LAG_NEAR_RETENTION", severity="error", page="lag", family="traces",
    remedy="Catch the group up before retention deletes what it has not read: scale its consumers, unblock "
           "it, or raise the topic's retention.ms for now.",
    counts="partition", units={"time_lag_s": "s", "retention_s": "s"},
    find=find))
