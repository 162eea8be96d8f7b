"""UNVERSIONED_SCHEMA_CHANGE: an event's shape changed incompatibly (a field removed, a type changed)
while its version stayed the same."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.schema_shapes import Shape, changes
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared


def _shape(s: Shape | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {"fields": s.fields, "first_record": s.first_record, "records": s.records,
            "first_seen": s.first_seen.isoformat() if s.first_seen else None}


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    out = []
    by_topic: dict[str, list] = {}
    for c in shared(changes, con, window):
        by_topic.setdefault(c.topic, []).append(c)
    for topic, cs in sorted(by_topic.items()):
        what = []
        for c in cs:
            parts = [f"{f} removed" for f in c.removed]
            parts += [f"{f} {a} → {b}" for f, (a, b) in sorted(c.retyped.items())]
            what.append(f"{c.event_type} version {c.version}: " + ", ".join(parts))
        out.append(rule.finding(
            subject_kind="topic", subject=topic, count=sum(c.records for c in cs),
            first_seen=min(c.after.first_seen for c in cs if c.after),
            last_seen=max(c.last_seen for c in cs if c.last_seen),
            summary=f"{topic}: the shape changed under the same version ({'; '.join(what)})",
            evidence={"changes": [{"event_type": c.event_type, "version": c.version, "removed": c.removed,
                                   "retyped": {f: list(t) for f, t in sorted(c.retyped.items())},
                                   "before": _shape(c.before), "after": _shape(c.after), "records": c.records}
                                  for c in cs]},
        ))
    return out


RULE = register(Rule(
    id="UNVERSIONED_SCHEMA_CHANGE", severity="warning", page="event-design", family="audit",
    remedy="Give an incompatible shape a new version (or a new event type) and keep publishing the old one "
           "until its readers have moved; only add optional fields under an existing version.",
    counts="record",
    find=find))
