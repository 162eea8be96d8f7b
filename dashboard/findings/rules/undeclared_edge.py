"""UNDECLARED_EDGE: a call or event flow seen in the window that the topology does not declare."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.processings import as_dt
from dashboard.analyses.topology_diff import diff, edge_evidence, edge_subject
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, times
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """info: drift between the file and the system (the harm an undeclared call does is judged by
    LONG_SYNC_CHAIN and SYNC_SIDE_EFFECT). Nothing without a declaration."""
    if topology is None:
        return []
    out = []
    for r in shared(diff, con, window, topology).itertuples(index=False):
        if r.status != "undeclared":
            continue
        what = "synchronous call" if r.kind == "sync" else "event flow"
        name = edge_subject(r)
        # a group known only from its committed offsets, which did not move: nothing was seen flowing
        seen = (f"seen {times(int(r.volume))}" if r.volume else
                "known from the group's committed offsets (nothing consumed in this window)")
        out.append(rule.finding(
            subject_kind="edge", subject=name, count=int(r.volume), first_seen=as_dt(r.first_seen),
            last_seen=as_dt(r.last_seen), summary=f"{what} {name} {seen} but not declared in the topology",
            remedy=(None if r.kind == "sync" else "Declare the topic, its producer and its consumer groups."),
            evidence={**edge_evidence(r), "via": r.via}, count_unit="call" if r.kind == "sync" else None,
        ))
    return out


RULE = register(Rule(
    id="UNDECLARED_EDGE", severity="info", page="overview", family="audit",
    remedy="Declare it, or replace the call with an event the callee reacts to.",
    counts="observation",
    find=find))
