"""ENVELOPE_MISSING: events without a stable id, a time or a version (or CloudEvents' required attributes)."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.event_design import change_events, event_types, seen_between
from dashboard.analyses.processings import as_list
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared

CHECKS = ("missing_id", "missing_time", "missing_version", "ce_missing_specversion", "ce_missing_source",
          "ce_missing_type", "ce_missing_id")


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per topic, with what each event type lacks."""
    out = []
    types = shared(event_types, con, window)
    incomplete = types[types["incomplete"] > 0]
    samples = {t: [x for s in g["sample_incomplete"] for x in as_list(s)] for t, g in incomplete.groupby("topic")}
    changes = change_events(con, window, samples)
    for topic, df in types.groupby("topic", sort=True):
        bad = df[(df[list(CHECKS)] > 0).any(axis=1)]
        if bad.empty:
            continue
        per_type = {}
        for r in bad.itertuples(index=False):
            missing = {c: int(getattr(r, c)) for c in CHECKS if getattr(r, c)}
            per_type[r.event_type if isinstance(r.event_type, str) else "no type"] = {
                "records": int(r.records), "missing": missing, "sample": as_list(r.sample_incomplete)}
        lacks = {c.replace("ce_missing_", "CloudEvents ").replace("missing_", "")
                 for t in per_type.values() for c in t["missing"]}
        if "CloudEvents id" in lacks:  # the same gap said twice ("CloudEvents id, …, id")
            lacks.discard("id")
        lacks = sorted(lacks)
        first, last = seen_between(bad)
        summary = f"events on {topic} lack: {', '.join(lacks)} (event types: {', '.join(sorted(per_type))})"
        evidence: dict[str, Any] = {"event_types": per_type}
        if changes.get(topic, 0) >= 0.5:  # mostly a table's rows, as Debezium captures them
            summary += ("; they are database change events (Debezium: a table's rows as they change), not "
                        "domain events: publish those from the service, through a transactional outbox")
            evidence["change_events"] = f"{changes[topic]:.0%} of the records sampled"
        out.append(rule.finding(
            subject_kind="topic", subject=str(topic), count=int(bad["incomplete"].sum()), first_seen=first,
            last_seen=last, summary=summary, evidence=evidence,
        ))
    return out


RULE = register(Rule(
    id="ENVELOPE_MISSING", severity="warning", page="event-design", family="audit",
    remedy="Give every event an envelope with a stable id, the time it happened and a schema "
           "version (CloudEvents: id, source, specversion, type).",
    counts="record",
    find=find))
