"""The design scorecard (docs/architecture.md#the-design-scorecard): one row per line of the
guidance Seamwatch's rules measure, with how many topics, groups or services pass and fail it.

Each line judges one kind of subject and names its rules; a finding at warning or above of
one of those rules fails the subjects it is about (a group's finding about a topic fails
that topic, a publication edge fails its service). Subjects observed in the window without
such a finding pass. The Event design page draws it; `seamwatch findings --json` prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import duckdb

from dashboard.analyses.population import observed
from dashboard.analyses.window import Window
from dashboard.findings import registry
from dashboard.findings.model import Finding, plural, severity_rank

# ENVELOPE_MISSING names what is missing per event type: which line each gap belongs to.
_ENVELOPE_LINE = {"missing_id": "ids", "ce_missing_id": "ids", "missing_time": "timestamps",
                  "missing_version": "versions"}


def _envelope(line: str) -> Callable[[Finding], Iterable[str]]:
    def subjects(f: Finding) -> Iterable[str]:
        gaps = {k for t in (f.evidence.get("event_types") or {}).values() for k in (t.get("missing") or {})}
        lines = {_ENVELOPE_LINE.get(k, "ids") for k in gaps} or {"ids"}  # CloudEvents' other attributes: identity
        return [f.subject] if line in lines else []
    return subjects


def _subject(f: Finding) -> Iterable[str]:
    return [f.subject]


def _service(f: Finding) -> Iterable[str]:
    """'svc -> topic', 'svc -> callee ...' and 'svc OPERATION' subjects: the service."""
    return [f.subject.split(" -> ")[0].split(" ")[0]]


def _evidence(key: str, fallback: Callable[[Finding], Iterable[str]] = _subject) -> Callable[[Finding], Iterable[str]]:
    def subjects(f: Finding) -> Iterable[str]:
        v = f.evidence.get(key)
        return [v] if isinstance(v, str) else list(v) if isinstance(v, (list, tuple)) and v else fallback(f)
    return subjects


@dataclass(frozen=True)
class Line:
    key: str
    guidance: str
    kind: str  # topic | group | service | publisher (a service that publishes)
    rules: tuple[tuple[str, Callable[[Finding], Iterable[str]]], ...]  # rule id, the subjects a finding fails
    # which of its kind it can judge, when not all: "processed_group", the groups whose processing
    # was seen (a group known only by its committed offsets shows nothing of how it processes)
    judged: str | None = None

    @property
    def rule_ids(self) -> list[str]:
        return [r for r, _ in self.rules]


LINES = (
    Line("facts", "Events state facts, not commands", "topic", (("EVENT_AS_COMMAND", _subject),)),
    Line("ids", "Events carry a stable, unique id", "topic", (
        ("ENVELOPE_MISSING", _envelope("ids")), ("EVENT_ID_COLLISION", _subject), ("DUPLICATE_PUBLISH", _subject))),
    Line("timestamps", "Events carry when they happened", "topic", (("ENVELOPE_MISSING", _envelope("timestamps")),)),
    Line("versions", "Events carry a version, and a new shape gets a new one", "topic", (
        ("ENVELOPE_MISSING", _envelope("versions")), ("UNVERSIONED_SCHEMA_CHANGE", _subject))),
    Line("context", "Events carry enough context: no calling back, trace context travels", "topic", (
        ("CALLBACK_CHATTER", _evidence("topic")), ("MISSING_TRACE_CONTEXT", _subject))),
    Line("idempotent", "Consumers tolerate duplicates (idempotent consumers)", "group",
         (("IDEMPOTENCY_VIOLATION", _subject),), judged="processed_group"),
    Line("sync_chains", "No long synchronous chains; side effects react to events", "service", (
        ("LONG_SYNC_CHAIN", _service), ("SYNC_SIDE_EFFECT", _service))),
    Line("commit_then_publish", "Commit the state change, then publish", "publisher", (
        ("PUBLISH_BEFORE_COMMIT", _service), ("PHANTOM_EVENT", _service))),
    Line("no_rpc", "Events are not remote calls: no request-reply over topics", "topic", (
        ("REQUEST_REPLY_OVER_EVENTS", _evidence("request_topic")), ("PASSIVE_AGGRESSIVE_EVENT", _subject))),
    Line("ordering", "One entity's events keep their order: stable keys, in-order processing", "topic", (
        ("NULL_OR_UNSTABLE_KEY", _subject), ("OUT_OF_ORDER_PROCESSING", _evidence("topic")))),
    Line("dead_letters", "Dead letters are handled: recovered, not left behind", "group",
         (("DEAD_LETTER", _evidence("groups")),)),
)


def scorecard(con: duckdb.DuckDBPyConnection, window: Window, findings: list[Finding]) -> list[dict[str, Any]]:
    """One row per line of LINES: its rules, the subjects of its kind observed, passing and failing,
    those seen but not judged (``unobserved``: a group seen only by its committed offsets, on the
    idempotency line), and per failing subject the findings that fail it (`finding` is the
    RULE:subject deep-link id)."""
    seen = observed(con, window)
    known = set(registry.ids())
    rows = []
    for line in LINES:
        failing: dict[str, list[dict[str, str]]] = {}
        for rule_id, subjects_of in line.rules:
            for f in findings:
                if f.rule == rule_id and severity_rank(f.severity) >= severity_rank("warning"):
                    for s in subjects_of(f):
                        failing.setdefault(str(s), []).append({
                            "rule": f.rule, "severity": f.severity, "finding": f"{f.rule}:{f.subject}",
                            "page": registry.rule(f.rule).page})
        population = seen[line.judged or line.kind] | set(failing)
        failed = sorted(failing)
        rows.append({
            "line": line.key, "guidance": line.guidance, "kind": line.kind,
            "rules": [r for r in line.rule_ids if r in known], "observed": len(population),
            "pass": len(population) - len(failed), "fail": len(failed),
            # seen, but not in a way this line can judge (a group known only by its committed offsets)
            "judged": line.judged, "unobserved": len(seen[line.kind] - population),
            "status": "no data" if not population else "fail" if failed else "pass",
            # worst first: a failing subject's link opens its gravest finding
            "failing": [{"subject": s, "findings": sorted(failing[s], key=lambda f: -severity_rank(f["severity"]))}
                        for s in failed],
        })
    return rows


def judges(row: dict[str, Any]) -> str:
    """What a row judged, as the scorecard says it: '14 topics'; on a line that judges only the
    groups whose processing was seen, '4 observed groups; 23 seen only by their offsets' (those
    neither pass nor fail: nothing of how they process was seen)."""
    n, kind, rest = row["observed"], row["kind"], row.get("unobserved", 0)
    if not row.get("judged"):
        return plural(n, kind)
    return plural(n, f"observed {kind}") + (f"; {rest:,} seen only by {'its' if rest == 1 else 'their'} offsets"
                                            if rest else "")
