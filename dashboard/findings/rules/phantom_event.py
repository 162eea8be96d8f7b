"""PHANTOM_EVENT: a request published an event and its transaction or request then failed: it announced
a change that never happened."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.commit_publish import SAMPLE, publications
from dashboard.analyses.processings import as_dt
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    df = shared(publications, con, window)
    phantom = df[df["failure"].notna()]
    out = []
    for (service, topic), g in phantom.groupby(["service", "topic"], sort=True):
        g = g.sort_values("published_at")
        n = len(g)
        out.append(rule.finding(
            subject_kind="edge", subject=f"{service} -> {topic}", count=n,
            first_seen=as_dt(g["published_at"].min()), last_seen=as_dt(g["published_at"].max()),
            summary=(f"{service} published to {topic} and then its transaction or request failed, "
                     f"{plural(n, 'time')}: consumers were told of changes that never happened"),
            evidence={"service": service, "topic": topic, "failures": {str(k): int(v) for k, v in sorted(g["failure"].value_counts().items())},
                      "requests": sorted(set(
                          f"{s} {o}" for s, o in zip(g["entry_service"], g["entry_operation"], strict=True))),
                      "span_ids": list(g["span_id"])[:SAMPLE], "trace_ids": list(g["trace_id"])},
        ))
    return out


RULE = register(Rule(
    id="PHANTOM_EVENT", severity="error", page="event-design", family="traces",
    remedy="Publish only what committed: use a transactional outbox, or commit and then publish, so a "
           "failed transaction announces nothing.",
    find=find))
