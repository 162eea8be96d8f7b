"""The rule registry: one declaration per rule, and everything that lists rules reads it."""

from __future__ import annotations

import pkgutil

import pytest

import dashboard.findings.rules as rules_package
from dashboard.findings import model, registry
from dashboard.findings.engine import evaluate
from dashboard.pages_registry import PAGES
from dashboard.views_common import RULE_PAGE


def test_each_rule_module_declares_one_rule_named_like_it() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(rules_package.__path__) if not m.name.startswith("_"))
    assert sorted(r.id.lower() for r in registry.rules()) == modules
    for rule in registry.rules():
        assert rule.find.__module__ == f"dashboard.findings.rules.{rule.id.lower()}"


def test_the_lists_of_rules_derive_from_the_registry() -> None:
    ids = {r.id for r in registry.rules()}
    assert set(model.RULES) == ids == set(RULE_PAGE)
    assert set(registry.ids(family="traces")) | set(registry.ids(family="audit")) == ids
    urls = {p[3] for p in PAGES}
    assert all(page in urls for r in registry.rules() for page in r.pages)


def test_an_id_is_registered_once() -> None:
    taken = registry.rule("DEAD_LETTER")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(registry.Rule(id="DEAD_LETTER", severity="info", page="overview", family="audit",
                                        remedy="r", find=taken.find, counts="record"))
    assert registry.rule("DEAD_LETTER") is taken


def test_a_declaration_with_an_unknown_page_or_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="no page 'nowhere'"):
        registry.Rule(id="X", severity="info", page="nowhere", family="audit", remedy="r", find=lambda *a: [],
                      counts="record")
    with pytest.raises(ValueError, match="unknown severity"):
        registry.Rule(id="X", severity="fatal", page="overview", family="audit", remedy="r", find=lambda *a: [],
                      counts="record")
    with pytest.raises(ValueError, match="say what a finding's count counts"):
        registry.Rule(id="X", severity="info", page="overview", family="audit", remedy="r", find=lambda *a: [],
                      counts=" ")


def test_a_finding_takes_its_rule_id_severity_and_remedy_and_is_never_graver() -> None:
    rule = registry.rule("REDELIVERY")  # declared warning at worst
    f = rule.finding(subject_kind="group", subject="g", count=1, first_seen=None, last_seen=None, summary="s")
    assert (f.rule, f.severity, f.remedy) == ("REDELIVERY", "warning", rule.remedy)
    assert rule.finding(subject_kind="group", subject="g", count=1, first_seen=None, last_seen=None, summary="s",
                        severity="info").severity == "info"
    with pytest.raises(ValueError, match="declares warning at worst"):
        rule.finding(subject_kind="group", subject="g", count=1, first_seen=None, last_seen=None, summary="s",
                     severity="error")


def test_the_engine_runs_every_registered_rule_once(golden_shop) -> None:
    from collectors.store import Store
    from dashboard.analyses.window import Window

    with Store(golden_shop.db, read_only=True) as store:
        cur = store.cursor()
        window = Window.everything(cur)
        report = evaluate(cur, window, topology=golden_shop.topology)
        one_by_one = [f for r in registry.rules() for f in r.findings(cur, window, golden_shop.topology)]
    assert report.errors == {}
    assert sorted(map(repr, report.findings)) == sorted(map(repr, one_by_one))
