"""MISSING_TRACE_CONTEXT: records without a traceparent header, or consumer spans that start a new trace."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.event_design import event_types, span_topics
from dashboard.analyses.processings import as_dt, as_list
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """From the records of tapped topics; from the spans of topics the tap does not read."""
    ev, spans = shared(event_types, con, window), shared(span_topics, con, window)
    out = []
    tapped = set(ev["topic"])
    by_topic = ev.groupby("topic", sort=True).agg(records=("records", "sum"), missing=("no_trace_context", "sum"),
                                                   first_seen=("first_seen", "min"), last_seen=("last_seen", "max"),
                                                   sample=("sample_no_trace", "first"))
    for topic, r in by_topic.iterrows():
        if r.missing:
            out.append(rule.finding(
                subject_kind="topic", subject=str(topic), count=int(r.missing), first_seen=as_dt(r.first_seen),
                last_seen=as_dt(r.last_seen),
                summary=f"{int(r.missing)} of {int(r.records)} records on {topic} carry no traceparent header",
                evidence={"source": "records", "sample": as_list(r["sample"])},
            ))
    for r in spans.itertuples(index=False):
        if r.topic not in tapped and r.orphan_consumers:
            out.append(rule.finding(
                subject_kind="topic", subject=str(r.topic), count=int(r.orphan_consumers),
                first_seen=as_dt(r.first_seen), last_seen=as_dt(r.last_seen),
                summary=f"{int(r.orphan_consumers)} consumer spans on {r.topic} start a new trace: "
                        "the producer's context was not propagated",
                remedy="Propagate W3C trace context in the record headers, producer and consumer side.",
                evidence={"source": "spans"}, count_unit="consumer span",
            ))
    return out


RULE = register(Rule(
    id="MISSING_TRACE_CONTEXT", severity="warning", page="event-design", family="audit",
    remedy="Instrument the producer (OpenTelemetry Kafka instrumentation) so every event carries "
           "W3C trace context in its headers.",
    counts="record",
    find=find))
