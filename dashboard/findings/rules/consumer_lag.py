"""CONSUMER_LAG: a group whose status was not OK in the window (WARN → warning, else error), or that
exceeded a limit its topology declares (max_lag_messages, max_time_lag: error), whatever its status."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.burrow import bad_groups, group_status, limit_breaches, worst
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

_SEVERITY = {"WARN": "warning", "ERR": "error", "STOP": "error", "STALL": "error", "REWIND": "error"}
_REMEDY = {
    "WARN": "The group falls behind: scale its consumers (up to the partition count) or make processing cheaper.",
    "STALL": "The group commits but does not move: find the message or call it is stuck on.",
    "STOP": "The group stopped committing: check that its consumers run and can reach the broker.",
    "REWIND": "The group's offsets went backwards: find who reset them, and expect reprocessing.",
    "ERR": "The group is in error: check its partitions' statuses.",
    "LIMIT": "The group is further behind than its owners declared: scale its consumers or make processing cheaper.",
}


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    out: list[Finding] = []
    breaches = limit_breaches(con, window, topology)
    for cluster, grp, first_seen, last_seen, partitions, first_at, final_lag in bad_groups(con, window):
        status = worst(list(partitions.values()))
        lag_now = int(sum(final_lag.values())) if final_lag else 0
        breach = breaches.pop(grp, None)
        summary = (f"{grp} was {group_status([status])} by Burrow's rules (worst partition {status}; "
                   f"{plural(sum(v != 'OK' for v in partitions.values()), 'partition')} not OK); "
                   f"{plural(lag_now, 'message')} behind at the last bad poll")
        evidence = {"cluster": cluster, "status": group_status([status]), "worst_partition_status": status,
                    "partitions": dict(partitions), "first_at": {s: t.isoformat() for s, t in first_at.items()},
                    "final_lag": {k: int(v) for k, v in final_lag.items()} if final_lag else {}}
        if breach is not None:
            summary += f"; and it was {breach['text']}"
            evidence["limits"] = breach["evidence"]
            first_seen, last_seen = min(first_seen, breach["first_seen"]), max(last_seen, breach["last_seen"])
        out.append(rule.finding(
            severity="error" if breach is not None else _SEVERITY[status], subject_kind="group", subject=grp,
            count=lag_now, first_seen=first_seen, last_seen=last_seen, summary=summary,
            remedy=_REMEDY[status], evidence=evidence,
        ))
    for grp, breach in sorted(breaches.items()):  # within Burrow's rules, beyond what its owners declared
        out.append(rule.finding(
            severity="error", subject_kind="group", subject=grp, count=breach["lag_last"],
            first_seen=breach["first_seen"], last_seen=breach["last_seen"],
            summary=f"{grp} was OK by Burrow's rules but {breach['text']} at {plural(breach['polls'], 'poll')}",
            remedy=_REMEDY["LIMIT"],
            evidence={"cluster": breach["cluster"], "status": "OK", "worst_partition_status": "OK", "partitions": {},
                      "first_at": {}, "final_lag": {}, "limits": breach["evidence"]},
        ))
    return out


RULE = register(Rule(
    id="CONSUMER_LAG", severity="error", page="lag", family="traces",
    remedy="Find why the group falls behind or stopped (its partitions' Burrow statuses say which), then scale "
           "or unblock its consumers.",
    counts="message", units={"final_lag": "message", "lag_seen": "message", "max_lag_messages": "message",
                             "max_time_lag_s": "s", "time_lag_seen_s": "s", "polls_over": "poll"},
    find=find))
