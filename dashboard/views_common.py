"""Small helpers two pages share (no Streamlit, no SQL)."""

from __future__ import annotations

import pandas as pd

from dashboard.findings import registry
from dashboard.findings.model import noun_for

# Where the evidence of each rule is drawn in full: each rule's declaration says.
RULE_PAGE: dict[str, str] = {r.id: r.page for r in registry.rules()}


def key_of(f) -> str:
    """The deep-link id of a finding: RULE:subject."""
    return f"{f.rule}:{f.subject}"


def findings_frame(found: list) -> pd.DataFrame:
    return pd.DataFrame([{"severity": f.severity, "rule": f.rule, "subject": str(f.subject),
                          "kind": f.subject_kind, "count": f.count, "counted": noun_for(f.count, f.count_unit),
                          "first_seen": f.first_seen,
                          "last_seen": f.last_seen, "summary": f.summary, "remedy": f.remedy, "key": key_of(f)}
                         for f in found],
                        columns=["severity", "rule", "subject", "kind", "count", "counted", "first_seen", "last_seen", "summary",
                                 "remedy", "key"])
