"""UNOBSERVED_EDGE: a call or event flow the topology declares that was not seen in the window."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.topology_diff import diff, edge_evidence, edge_subject
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared
from dashboard.read import has_data


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """info, like UNDECLARED_EDGE. Nothing without a declaration, and nothing over a window that
    holds no data at all: there every declared edge is unseen, which says nothing about it."""
    if topology is None or not has_data(con, window):
        return []
    out = []
    for r in shared(diff, con, window, topology).itertuples(index=False):
        if r.status != "unobserved":
            continue
        what = "synchronous call" if r.kind == "sync" else "event flow"
        name = edge_subject(r)
        out.append(rule.finding(
            subject_kind="edge", subject=name, count=0, first_seen=None, last_seen=None,
            summary=f"declared {what} {name} was not seen in this window", evidence=edge_evidence(r),
        ))
    return out


RULE = register(Rule(
    id="UNOBSERVED_EDGE", severity="info", page="overview", family="audit",
    remedy="Remove it from the topology if it is gone, or check that its spans are exported.",
    counts="observation",
    find=find))
