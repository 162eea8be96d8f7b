"""LONG_SYNC_CHAIN: an entry endpoint whose requests waited on more synchronous hops than declared."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.call_chains import DEFAULT_MAX_SYNC_DEPTH, chains_over_limit
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per entry endpoint whose synchronous depth exceeded max_sync_depth."""
    limit = int(topology.max_sync_depth) if topology is not None else DEFAULT_MAX_SYNC_DEPTH
    out = []
    for r in chains_over_limit(con, window, limit_depth=limit).itertuples(index=False):
        path = " → ".join(r.deepest_path)
        out.append(rule.finding(
            subject_kind="endpoint", subject=f"{r.entry_service} {r.entry_operation}", count=int(r.segments),
            first_seen=r.first_seen, last_seen=r.last_seen,
            summary=(f"{int(r.segments)} requests to {r.entry_service} {r.entry_operation} waited on "
                     f"{int(r.max_depth)} synchronous hops (limit {limit}): {path}"),
            evidence={"trace_ids": list(r.trace_ids), "deepest_trace_id": r.deepest_trace_id,
                      "deepest_path": list(r.deepest_path), "max_depth": int(r.max_depth), "limit": limit},
        ))
    return out


RULE = register(Rule(
    id="LONG_SYNC_CHAIN", severity="warning", page="call-chains", family="traces",
    remedy=("Shorten the chain: answer the user after the commit and let the later steps "
            "react to an event instead of being called."),
    counts="request", units={"max_depth": "hop", "limit": "hop"},
    find=find))
