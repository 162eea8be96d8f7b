"""REQUEST_REPLY_OVER_EVENTS: a request handler publishes and then waits for the reply on another topic:
a synchronous call in disguise, with a queue's latency."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.processings import as_dt
from dashboard.analyses.request_reply import reply_waits
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    out = []
    df = reply_waits(con, window)
    for (service, request, request_topic, reply_topic), g in df.groupby(
            ["service", "request", "request_topic", "reply_topic"], sort=True):
        g = g.sort_values("published_at")
        n = len(g)
        p50, worst = float(g["wait_ms"].median()), float(g["wait_ms"].max())
        share = float((g["wait_ms"] / g["request_ms"]).median())
        out.append(rule.finding(
            subject_kind="endpoint", subject=f"{service} {request}", count=n,
            first_seen=as_dt(g["published_at"].min()), last_seen=as_dt(g["published_at"].max()),
            summary=(f"{service} {request} published to {request_topic} and waited for the reply on {reply_topic} "
                     f"in {plural(n, 'request')}: {p50:.0f} ms added at the median ({worst:.0f} ms at worst, "
                     f"{share:.0%} of the request)"),
            evidence={"request_topic": request_topic, "reply_topic": reply_topic,
                      "correlated_by": sorted({c for cs in g["correlated_by"] for c in str(cs).split(", ") if c}),
                      "added_latency_ms": {"p50": round(p50, 3), "max": round(worst, 3)},
                      "share_of_request": round(share, 3), "trace_ids": list(g["trace_id"])},
        ))
    return out


RULE = register(Rule(
    id="REQUEST_REPLY_OVER_EVENTS", severity="warning", page="event-design", family="traces",
    remedy="When the caller needs the answer before it can go on, call an API; otherwise publish the fact and "
           "let the request finish without waiting for a reply.",
    counts="request", units={"added_latency_ms": "ms"},
    find=find))
