"""The findings engine: runs every rule over one window and returns uniform Finding rows.

Each analysis module that owns rules exposes ``findings(con, window, topology) ->
list[Finding]``; the engine calls them in turn with the declared topology read from the
store (None when no topology was loaded), then sorts worst first and most recent first.

A rule module that fails does not hide the others: its error is kept in
``Report.errors`` (and logged), so the dashboard still shows what the other rules found
and the CLI can refuse to call a partial result clean.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from dashboard.analyses.declared import declared_topology
from dashboard.analyses.window import Window
from dashboard.findings.model import SEVERITIES, Finding, severity_rank

log = logging.getLogger(__name__)

# Analyses with rules, each with findings(con, window, topology). Rule modules of their
# own (dashboard/findings/<name>.py, other than model and engine) are found by name.
RULE_MODULES: tuple[str, ...] = (
    "dashboard.analyses.call_chains",
    "dashboard.analyses.burrow",
    "dashboard.analyses.redeliveries",
    "dashboard.analyses.dead_letters",
    "dashboard.analyses.idempotency",
    "dashboard.analyses.event_design",
    "dashboard.analyses.topology_diff",
)
_NOT_RULES = frozenset({"model", "engine"})

_NOT_LOADED = object()


@dataclass
class Report:
    """What one run found, and which rule modules failed (module → one-line reason)."""

    window: Window
    findings: list[Finding] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def rule_modules() -> list[str]:
    """Every module whose findings() the engine calls."""
    import dashboard.findings as package

    own = sorted(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                 if m.name not in _NOT_RULES and not m.name.startswith("_"))
    return [*RULE_MODULES, *own]


def _rule_functions(modules: Iterable[str]) -> list[tuple[str, Any]]:
    out = []
    for name in modules:
        module = importlib.import_module(name)
        fn = getattr(module, "findings", None)
        if fn is None:
            if name not in RULE_MODULES:  # a helper module beside the rule modules
                log.debug("%s has no findings()", name)
                continue
            raise AttributeError(f"{name} has no findings(con, window, topology)")
        out.append((name, fn))
    return out


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


def evaluate(con: duckdb.DuckDBPyConnection, window: Window, *, topology: Any = _NOT_LOADED,
             min_severity: str = "info", rules: Sequence[str] | None = None,
             modules: Sequence[str] | None = None) -> Report:
    """Run the rules over `window`. `topology` defaults to the store's declaration; `rules`
    keeps only those rule ids; `modules` replaces the list of rule modules."""
    if topology is _NOT_LOADED:
        topology = declared_topology(con)
    report = Report(window)
    found: list[Finding] = []
    for name, fn in _rule_functions(modules or rule_modules()):
        try:
            found.extend(fn(con, window, topology))
        except Exception as exc:  # noqa: BLE001 (one broken rule must not hide the others' findings)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("rules of %s failed: %s", name, reason, exc_info=log.isEnabledFor(logging.DEBUG))
            report.errors[name] = reason
    if rules is not None:
        wanted = set(rules)
        found = [f for f in found if f.rule in wanted]
    report.findings = sorted(at_or_above(found, min_severity), key=sort_key)
    return report


def run(con: duckdb.DuckDBPyConnection, window: Window, *, topology: Any = _NOT_LOADED,
        min_severity: str = "info", rules: Sequence[str] | None = None) -> list[Finding]:
    """Every finding in the window at or above `min_severity`, worst and newest first."""
    return evaluate(con, window, topology=topology, min_severity=min_severity, rules=rules).findings
