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
    count_unit: str = ""  # what count counts, singular: "record", "message" (its rule's Rule.counts)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("first_seen", "last_seen"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def duration(seconds: float) -> str:
    """'45 s', '12 min', '5.2 h', '3.5 days', '55.2 years': one unit, the largest that reads as more
    than one of it (days from two, years from two), to a tenth; as a finding's summary says how long."""
    for unit, size, least in (("years", 365.25 * 86400, 2 * 365 * 86400), ("days", 86400, 2 * 86400),
                              ("h", 3600, 3600), ("min", 60, 60)):
        if seconds >= least:
            return f"{seconds / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def plural(n: int, noun: str) -> str:
    """'1 record', '3 records', '12,500 records', '2 entities': summaries are read by people."""
    return f"{n:,} {noun_for(n, noun)}"


def noun_for(n: float, noun: str) -> str:
    """The noun as it reads after ``n``: 'record' for 1, 'records' for any other count ('' stays '')."""
    return noun if n == 1 or not noun else plural_noun(noun)


def plural_noun(noun: str) -> str:
    """'record' → 'records', 'entity' → 'entities', 'dead letter' → 'dead letters',
    'record or event id' → 'records or event ids'."""
    def one(word: str) -> str:
        head, _, last = word.rpartition(" ")
        last = last[:-1] + "ies" if last.endswith("y") and last[-2:-1] not in tuple("aeiou") else last + "s"
        return f"{head} {last}" if head else last
    return " or ".join(one(w) for w in noun.split(" or "))


def count_text(f: Finding) -> str:
    """A finding's count with its unit: '616 messages', '1 record' (the number alone when its
    rule did not say what it counts)."""
    return plural(f.count, f.count_unit) if f.count_unit else f"{f.count:,}"


def times(n: int) -> str:
    """'once', 'twice', '3 times', '1,200 times'."""
    return {1: "once", 2: "twice"}.get(n, f"{n:,} times")


def with_article(noun: str) -> str:
    """'an id', 'a time', 'an event': the article the word's first sound takes."""
    return f"{'an' if noun[:1].lower() in 'aeio' else 'a'} {noun}"


def either(nouns: list[str]) -> str:
    """'an id', 'an id or a time', 'an id, a time or a version'."""
    words = [with_article(n) for n in nouns]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
