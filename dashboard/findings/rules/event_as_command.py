"""EVENT_AS_COMMAND: a topic or event type named like a command (CreateInvoice), or naming no fact."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses import naming
from dashboard.analyses.event_design import derived_topic, event_types, seen_between, span_topics
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """warning for a command sent as an event; info for event types that are nouns."""
    ev, spans = shared(event_types, con, window), shared(span_topics, con, window)
    out = []
    seen = pd.concat([ev[["topic", "records", "first_seen", "last_seen"]],
                      spans.rename(columns={"spans": "records"})[["topic", "records", "first_seen", "last_seen"]]])
    for topic in sorted(set(seen["topic"])):
        if derived_topic(topic):
            continue
        verdict, why = naming.classify(topic)
        types = ev[ev["topic"] == topic].dropna(subset=["event_type"])
        commands = [(t, naming.classify(t)) for t in types["event_type"]]
        bad_types = {t: w for t, (v, w) in commands if v == "command"}
        nouns = {t: w for t, (v, w) in commands if v == "noun"}
        rows = seen[seen["topic"] == topic]
        tapped = ev[ev["topic"] == topic]
        first, last = seen_between(tapped if len(tapped) else rows)  # record times when the tap saw the topic
        if verdict == "command" or bad_types:
            n = int(types[types["event_type"].isin(bad_types)]["records"].sum()) if bad_types else 0
            if verdict == "command":
                n = int(ev.loc[ev["topic"] == topic, "records"].sum()) or int(rows["records"].max())
            named = [f"topic {topic} ({why})"] if verdict == "command" else []
            named += [f"type {t} ({w})" for t, w in bad_types.items()]
            out.append(rule.finding(
                subject_kind="topic", subject=topic, count=n, first_seen=first, last_seen=last,
                summary="a command sent as an event: " + "; ".join(named),
                evidence={"topic_verdict": verdict, "command_types": sorted(bad_types)},
            ))
        elif nouns:
            n = int(types[types["event_type"].isin(nouns)]["records"].sum())
            out.append(rule.finding(
                severity="info", subject_kind="topic", subject=topic, count=n, first_seen=first, last_seen=last,
                summary="event types that name no fact: " + ", ".join(sorted(nouns)),
                remedy="Name events for what happened, in the past tense (OrderCreated, PaymentCaptured).",
                evidence={"noun_types": sorted(nouns)},
            ))
    return out


RULE = register(Rule(
    id="EVENT_AS_COMMAND", severity="warning", page="event-design", family="audit",
    remedy="Ask for the work through an API call to its owner, or publish the fact that "
           "happened (OrderCreated, not CreateInvoice) and let the owner react.",
    counts="event",
    find=find))
