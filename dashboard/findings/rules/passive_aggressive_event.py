"""PASSIVE_AGGRESSIVE_EVENT: an event one group consumes while its producer waits for the reply: a request in disguise."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.sync_coupling import reply_waits
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, times
from dashboard.findings.registry import Rule, register


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    return [rule.finding(
        subject_kind="topic", subject=r.topic, count=int(r.waits), first_seen=r.first_seen, last_seen=r.last_seen,
        summary=(f"{r.producer_service} published {r.topic}, which only {r.consumer_group} consumes, and "
                 f"waited for its reply on {r.reply_topic} {times(int(r.waits))}"),
        remedy=(f"This is a request in disguise: call {r.consumer_service} through an API, or publish a fact "
                "and stop waiting for an answer."),
        evidence={"consumer_group": r.consumer_group, "reply_topic": r.reply_topic,
                  "request": r.request, "trace_ids": list(r.trace_ids)},
    ) for r in reply_waits(con, window).itertuples(index=False)]


RULE = register(Rule(
    id="PASSIVE_AGGRESSIVE_EVENT", severity="warning", page="event-design", family="traces",
    remedy="This is a request in disguise: call the consumer's service through an API, or publish a fact "
           "and stop waiting for an answer.",
    counts="request",
    find=find))
