"""SYNC_SIDE_EFFECT: requests that waited on a call to a service the topology marks as a side effect."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.sync_coupling import side_effect_calls
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per caller → side-effect callee operation; nothing without a declaration to say what a side effect is."""
    side_effects = [s.name for s in topology.services.values() if s.side_effect] if topology is not None else []
    if not side_effects:
        return []
    return [rule.finding(
        subject_kind="edge", subject=f"{r.caller} -> {r.callee} {r.operation}", count=int(r.traces),
        first_seen=r.first_seen, last_seen=r.last_seen,
        summary=(f"{int(r.traces)} {r.entry_service} {r.entry_operation} requests waited on "
                 f"{r.callee} {r.operation}, a side effect (p95 {r.p95_ms:.0f} ms)"),
        remedy=(f"Commit, publish an event and let {r.callee} react to it; "
                "do not make the user wait on a side effect."),
        evidence={"trace_ids": list(r.trace_ids), "caller": r.caller, "callee": r.callee,
                  "operation": r.operation, "entry": f"{r.entry_service} {r.entry_operation}",
                  "calls": int(r.calls)},
    ) for r in side_effect_calls(con, window, side_effects).itertuples(index=False)]


RULE = register(Rule(
    id="SYNC_SIDE_EFFECT", severity="warning", page="call-chains", family="traces",
    remedy="Commit, publish an event and let the side effect's service react to it; "
           "do not make the user wait on a side effect.",
    counts="request", units={"calls": "call"},
    find=find))
