"""The rule registry: every rule declares itself once, in its own module of dashboard.findings.rules.

A rule module holds one ``register(Rule(...))``: the rule's id, its severity, the page that
draws its evidence in full, its remedy and the function that finds it. Everything else that
needs to know the rules (the engine, ``model.RULES``, the pages' links, the tests) asks
:func:`rules`, so adding a rule is one new module plus its tests (docs/architecture.md#adding-a-rule).

The rule modules are found once, by walking the ``rules`` package: there is no list to keep
in step with the files.
"""

from __future__ import annotations

import contextvars
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from dashboard.analyses.window import Window
from dashboard.findings.model import SEVERITIES, Finding, severity_rank
from dashboard.pages_registry import PAGES

FindingsFn = Callable[["Rule", duckdb.DuckDBPyConnection, Window, Any], list[Finding]]
_PAGES = tuple(p[3] for p in PAGES)  # url paths
FAMILIES = ("traces", "audit")  # what a rule reads: spans and lag polls, or records and the declaration


@dataclass(frozen=True)
class Rule:
    """One rule, as its module declares it.

    ``severity`` is the gravest severity its findings take (most take exactly it; a few are
    milder when the evidence is, say a redelivery that is not a crash loop); ``remedy`` is
    what to do in general (a finding may say it for its own subject); ``page`` is where its
    evidence is drawn in full, and ``also_on`` the other pages that list it. ``find`` is
    called with the rule itself, so the finding it builds takes the id, severity and remedy
    from this one declaration. ``counts`` is what a finding's count counts, one of them
    ("record", "message", "request": a finding may count another, say so in ``count_unit``);
    ``units`` the unit of the numbers in its evidence, by field ("final_lag": "message")."""

    id: str
    severity: str
    page: str
    family: str
    remedy: str
    find: FindingsFn
    counts: str
    also_on: tuple[str, ...] = ()
    units: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.id}: unknown severity {self.severity!r}")
        if unknown := [p for p in self.pages if p not in _PAGES]:
            raise ValueError(f"{self.id}: no page {unknown[0]!r}; one of {', '.join(_PAGES)}")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.id}: family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if not self.counts.strip():
            raise ValueError(f"{self.id}: say what a finding's count counts (counts='record')")

    @property
    def pages(self) -> tuple[str, ...]:
        return (self.page, *self.also_on)

    def findings(self, con: duckdb.DuckDBPyConnection, window: Window, topology: Any = None) -> list[Finding]:
        """This rule's findings in the window (topology: the declaration, or None)."""
        return self.find(self, con, window, topology)

    def finding(self, *, subject_kind: str, subject: str, count: int, first_seen: datetime | None,
                last_seen: datetime | None, summary: str, evidence: dict[str, Any] | None = None,
                severity: str | None = None, remedy: str | None = None, count_unit: str | None = None) -> Finding:
        """A Finding of this rule: its severity, remedy and count unit unless the evidence calls for others."""
        severity = severity or self.severity
        if severity_rank(severity) > severity_rank(self.severity):
            raise ValueError(f"{self.id} declares {self.severity} at worst, not {severity}")
        return Finding(rule=self.id, severity=severity, subject_kind=subject_kind, subject=subject, count=count,
                       first_seen=first_seen, last_seen=last_seen, summary=summary, remedy=remedy or self.remedy,
                       evidence=evidence or {}, count_unit=count_unit or self.counts)


_REGISTRY: dict[str, Rule] = {}
_LOADED = False


def register(rule: Rule) -> Rule:
    """Add a rule (a rule module's one declaration); an id may be registered once."""
    if rule.id in _REGISTRY and _REGISTRY[rule.id] is not rule:
        raise ValueError(f"rule {rule.id} is registered twice")
    _REGISTRY[rule.id] = rule
    return rule


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    from dashboard.findings import rules as package

    for m in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not m.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{m.name}")
    _LOADED = True


def rules() -> tuple[Rule, ...]:
    """Every registered rule, in id order."""
    _load()
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))


def rule(rule_id: str) -> Rule:
    _load()
    try:
        return _REGISTRY[rule_id]
    except KeyError:
        raise KeyError(f"no rule {rule_id!r}; one of {', '.join(sorted(_REGISTRY))}") from None


def ids(*, family: str | None = None, page: str | None = None) -> tuple[str, ...]:
    """Rule ids, all or those of one family or listed on one page."""
    return tuple(r.id for r in rules() if (family is None or r.family == family)
                 and (page is None or page in r.pages))


# -- one run's shared queries ---------------------------------------------------------------
# Several rules read the same analysis (the four event-design rules read event_types): within
# one engine run it is computed once.
_RUN: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("findings_run", default=None)


@contextmanager
def one_run() -> Iterator[None]:
    token = _RUN.set({})
    try:
        yield
    finally:
        _RUN.reset(token)


def shared(fn: Callable[..., Any], con: duckdb.DuckDBPyConnection, window: Window, *args: Any) -> Any:
    """fn(con, window, *args), computed once per engine run (every time outside one)."""
    memo = _RUN.get()
    if memo is None:
        return fn(con, window, *args)
    key = (fn, id(con), window, tuple(map(id, args)))  # the arguments live as long as the run
    if key not in memo:
        memo[key] = fn(con, window, *args)
    return memo[key]
