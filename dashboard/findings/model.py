"""The Finding row every rule yields (docs/architecture.md#findings-and-rules)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

SEVERITIES = ("info", "warning", "error", "critical")


def __getattr__(name: str) -> object:
    """RULES: every registered rule id (dashboard.findings.registry), read when first asked for:
    the rule modules import this one."""
    if name == "RULES":
        from dashboard.findings.registry import ids

        return ids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def severity_rank(level: str) -> int:
    return SEVERITIES.index(level)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    subject_kind: str  # service | endpoint | topic | group | trace | edge
    subject: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    summary: str  # what was seen, one line
    remedy: str  # what to do, in the product's terms, one line
    evidence: dict[str, Any] = field(default_factory=dict)  # ids to drill into

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("first_seen", "last_seen"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def plural(n: int, noun: str) -> str:
    """'1 record', '3 records', '12,500 records': summaries are read by people."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
