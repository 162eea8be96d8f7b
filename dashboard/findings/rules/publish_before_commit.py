"""PUBLISH_BEFORE_COMMIT: a service published an event before its own write or commit had ended."""

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
    early = df[df["commit_ended"].notna()]
    out = []
    for (service, topic), g in early.groupby(["service", "topic"], sort=True):
        g = g.sort_values("published_at")
        n = len(g)
        out.append(rule.finding(
            subject_kind="edge", subject=f"{service} -> {topic}", count=n,
            first_seen=as_dt(g["published_at"].min()), last_seen=as_dt(g["published_at"].max()),
            summary=(f"{service} published to {topic} before its own write or commit had ended, "
                     f"{plural(n, 'time')} (up to {g['before_commit_ms'].max():.0f} ms early)"),
            evidence={"service": service, "topic": topic, "requests": sorted(set(
                          f"{s} {o}" for s, o in zip(g["entry_service"], g["entry_operation"], strict=True))),
                      "commit_spans": sorted(set(g["commit_span"].dropna())),
                      "max_before_commit_ms": round(float(g["before_commit_ms"].max()), 3),
                      "span_ids": list(g["span_id"])[:SAMPLE], "trace_ids": list(g["trace_id"])},
        ))
    return out


RULE = register(Rule(
    id="PUBLISH_BEFORE_COMMIT", severity="warning", page="event-design", family="traces",
    remedy="Commit the state change first, then publish (or write the event to a transactional outbox "
           "in the same transaction and relay it).",
    find=find))
