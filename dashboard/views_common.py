"""Small helpers two pages share (no Streamlit, no SQL)."""

from __future__ import annotations

import pandas as pd

# Where the evidence of each rule is drawn in full.
RULE_PAGE = {
    "LONG_SYNC_CHAIN": "call-chains", "SYNC_SIDE_EFFECT": "call-chains", "CONSUMER_LAG": "lag",
    "REDELIVERY": "redeliveries", "DUPLICATE_PUBLISH": "redeliveries", "EVENT_ID_COLLISION": "redeliveries",
    "DEAD_LETTER": "dead-letters", "IDEMPOTENCY_VIOLATION": "idempotency", "EVENT_AS_COMMAND": "event-design",
    "ENVELOPE_MISSING": "event-design", "MISSING_TRACE_CONTEXT": "event-design",
    "NULL_OR_UNSTABLE_KEY": "event-design", "CALLBACK_CHATTER": "event-design",
    "PASSIVE_AGGRESSIVE_EVENT": "event-design", "UNDECLARED_EDGE": "overview", "UNOBSERVED_EDGE": "overview",
}


def key_of(f) -> str:
    """The deep-link id of a finding: RULE:subject."""
    return f"{f.rule}:{f.subject}"


def findings_frame(found: list) -> pd.DataFrame:
    return pd.DataFrame([{"severity": f.severity, "rule": f.rule, "subject": str(f.subject),
                          "kind": f.subject_kind, "count": f.count, "first_seen": f.first_seen,
                          "last_seen": f.last_seen, "summary": f.summary, "remedy": f.remedy, "key": key_of(f)}
                         for f in found],
                        columns=["severity", "rule", "subject", "kind", "count", "first_seen", "last_seen", "summary",
                                 "remedy", "key"])
