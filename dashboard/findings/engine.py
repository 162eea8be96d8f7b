"""The findings engine: runs every registered rule over one window and returns uniform Finding rows.

The rules come from dashboard.findings.registry (one module per rule under
dashboard/findings/rules/); the engine calls each one's findings function in turn with the
declared topology read from the store (None when no topology was loaded), then sorts worst
first and most recent first.

A rule that fails does not hide the others: its error is kept in ``Report.errors`` (rule id →
one-line reason, and logged), so the dashboard still shows what the other rules found and the
CLI can refuse to call a partial result clean.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from collectors.errors import first_line
from dashboard.analyses.declared import declared_topology
from dashboard.analyses.window import Window
from dashboard.findings import registry
from dashboard.findings.model import SEVERITIES, Finding, severity_rank

log = logging.getLogger(__name__)

_NOT_LOADED = object()


@dataclass
class Report:
    """What one run found, and which rules failed (rule id → one-line reason)."""

    window: Window
    findings: list[Finding] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def sort_key(f: Finding) -> tuple[Any, ...]:
    """Worst severity first, then the most recently seen, then rule and subject."""
    last = f.last_seen or f.first_seen or datetime.min
    return (-severity_rank(f.severity), -last.timestamp() if last != datetime.min else 0.0, f.rule, f.subject)


def at_or_above(found: Iterable[Finding], level: str) -> list[Finding]:
    """The findings whose severity is `level` or worse."""
    if level not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {level!r}")
    floor = severity_rank(level)
    return [f for f in found if severity_rank(f.severity) >= floor]


def log_failure(rule_id: str, exc: BaseException) -> None:
    """A rule that failed, in one line (its traceback at debug level)."""
    log.warning("rule %s failed: %s", rule_id, first_line(exc), exc_info=log.isEnabledFor(logging.DEBUG))


def evaluate(con: duckdb.DuckDBPyConnection, window: Window, *, topology: Any = _NOT_LOADED,
             min_severity: str = "info", rules: Sequence[str] | None = None,
             on_failure: Callable[[str, Exception], None] | None = None) -> Report:
    """Run the rules over `window`. `topology` defaults to the store's declaration; `rules`
    runs only those rule ids. A rule that fails is logged, or handed to ``on_failure(rule id,
    error)`` instead (the findings watch says a store's outage once, not once per rule and run)."""
    if topology is _NOT_LOADED:
        topology = declared_topology(con)
    wanted = [r for r in registry.rules() if rules is None or r.id in set(rules)]
    report = Report(window)
    found: list[Finding] = []
    with registry.one_run():
        for rule in wanted:
            try:
                found.extend(rule.findings(con, window, topology))
            except Exception as exc:  # noqa: BLE001 (one broken rule must not hide the others' findings)
                (on_failure or log_failure)(rule.id, exc)
                report.errors[rule.id] = first_line(exc)
                _rearm(con)
    report.findings = sorted(at_or_above(found, min_severity), key=sort_key)
    return report


def _rearm(con: duckdb.DuckDBPyConnection) -> None:
    """A failed rule aborts the read transaction a page run holds on a lake (state.reads): begin
    another, so the next rules still run."""
    try:
        con.execute("SELECT 1").fetchall()
    except duckdb.TransactionException:
        con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")


def run(con: duckdb.DuckDBPyConnection, window: Window, *, topology: Any = _NOT_LOADED,
        min_severity: str = "info", rules: Sequence[str] | None = None) -> list[Finding]:
    """Every finding in the window at or above `min_severity`, worst and newest first."""
    return evaluate(con, window, topology=topology, min_severity=min_severity, rules=rules).findings
