"""PHANTOM_EVENT: a request published an event and its transaction or request then failed: it announced
a change that never happened."""

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
        rule, df[df["failure"].notna()],
        summary=lambda service, topic, g: (f"{service} published to {topic} and then its transaction or request "
                                           f"failed, {plural(len(g), 'time')}: consumers were told of changes "
                                           "that never happened"),
        evidence=lambda g: {"failures": {str(k): int(v) for k, v in sorted(g["failure"].value_counts().items())}})


RULE = register(Rule(
    id="PHANTOM_EVENT", severity="error", page="event-design", family="traces",
    remedy="Publish only what committed: use a transactional outbox, or commit and then publish, so a "
           "failed transaction announces nothing.",
    counts="publication",
    find=find))
