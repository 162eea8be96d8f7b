"""PUBLISH_BEFORE_COMMIT: a service published an event before its own write or commit had ended."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.commit_publish import publications
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.publication_edges import edge_findings
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    df = shared(publications, con, window)
    return edge_findings(
        rule, df[df["commit_ended"].notna()],
        summary=lambda service, topic, g: (f"{service} published to {topic} before its own write or commit had "
                                           f"ended, {plural(len(g), 'time')} (up to "
                                           f"{g['before_commit_ms'].max():.0f} ms early)"),
        evidence=lambda g: {"commit_spans": sorted(set(g["commit_span"].dropna())),
                            "max_before_commit_ms": round(float(g["before_commit_ms"].max()), 3)})


RULE = register(Rule(
    id="PUBLISH_BEFORE_COMMIT", severity="warning", page="event-design", family="traces",
    remedy="Commit the state change first, then publish (or write the event to a transactional outbox "
           "in the same transaction and relay it).",
    counts="publication", units={"max_before_commit_ms": "ms"},
    find=find))
