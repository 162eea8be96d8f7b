"""Run registered rules directly (not through the engine, which keeps a failing rule's error
instead of raising it)."""

from __future__ import annotations

from typing import Any

from dashboard.findings import registry
from dashboard.findings.model import Finding


def rule_findings(cur: Any, window: Any, topology: Any, *rule_ids: str) -> list[Finding]:
    """The findings of the named rules, rule by rule."""
    return [f for rule_id in rule_ids for f in registry.rule(rule_id).findings(cur, window, topology)]
