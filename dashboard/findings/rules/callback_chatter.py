"""CALLBACK_CHATTER: a consumer group that calls the producer back for most events it processes."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.sync_coupling import CALLBACK_MIN_EVENTS, CALLBACK_SHARE, callbacks
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    return [rule.finding(
        subject_kind="group", subject=r.consumer_group, count=int(r.called_back),
        first_seen=r.first_seen, last_seen=r.last_seen,
        summary=(f"{r.consumer_group} called {r.producer} {r.operation} back for {int(r.called_back)} of "
                 f"{int(r.processed)} {r.topic} events ({r.share:.0%})"),
        remedy=(f"Carry what {r.consumer_group} needs in the {r.topic} event (event-carried state), "
                f"so it stops calling {r.producer} for every event."),
        evidence={"topic": r.topic, "producer": r.producer, "operation": r.operation,
                  "processed": int(r.processed), "called_back": int(r.called_back), "calls": int(r.calls),
                  "trace_ids": list(r.trace_ids)},
    ) for r in callbacks(con, window).itertuples(index=False)
        if not (r.processed < CALLBACK_MIN_EVENTS or r.share <= CALLBACK_SHARE)]


RULE = register(Rule(
    id="CALLBACK_CHATTER", severity="warning", page="event-design", family="traces",
    remedy="Carry what the consumer needs in the event (event-carried state), so it stops calling the producer.",
    counts="processing", units={"processed": "processing", "called_back": "processing", "calls": "call"},
    find=find))
