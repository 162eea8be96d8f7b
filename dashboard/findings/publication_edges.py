"""Commit-then-publish publications (dashboard.analyses.commit_publish) as findings, one per
service -> topic edge: the shape PUBLISH_BEFORE_COMMIT and PHANTOM_EVENT share, so both count,
date and sample an edge's publications the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from dashboard.analyses.commit_publish import SAMPLE
from dashboard.analyses.processings import as_dt
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule


def edge_findings(rule: Rule, rows: pd.DataFrame, summary: Callable[[str, str, pd.DataFrame], str],
                  evidence: Callable[[pd.DataFrame], dict[str, Any]]) -> list[Finding]:
    """One finding per edge of ``rows`` (publications): ``summary(service, topic, rows of the edge)``
    says what happened; ``evidence(rows of the edge)`` adds the rule's own evidence to the
    edge, the requests that published and a sample of the spans."""
    out = []
    for (service, topic), g in rows.groupby(["service", "topic"], sort=True):
        g = g.sort_values("published_at")
        out.append(rule.finding(
            subject_kind="edge", subject=f"{service} -> {topic}", count=len(g),
            first_seen=as_dt(g["published_at"].min()), last_seen=as_dt(g["published_at"].max()),
            summary=summary(service, topic, g),
            evidence={"service": service, "topic": topic, **evidence(g), "requests": sorted(set(
                          f"{s} {o}" for s, o in zip(g["entry_service"], g["entry_operation"], strict=True))),
                      "span_ids": list(g["span_id"])[:SAMPLE], "trace_ids": list(g["trace_id"])},
        ))
    return out
