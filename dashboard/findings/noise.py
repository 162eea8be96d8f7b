"""Findings noise: info findings folded into one row per rule, so they never crowd out the rest.

A live broker with old test groups yields a hundred info UNDECLARED_EDGE findings (one per
stale group) beside a handful of warnings and errors; listed one by one, they push what
matters off the Overview, the Findings table and What changed. Pages show ``fold(found)``:
every warning and worse as it is, then one row per info rule that stands for all of its
findings and lists their subjects in its evidence.
"""

from __future__ import annotations

from collections import defaultdict

from dashboard.findings.model import Finding, plural

# The subject kind of a folded row: its subject is "<n> <kind>s" and its key ends in ":*".
FOLDED = "findings"
FOLD_AT = "info"


def is_folded(f: Finding) -> bool:
    return f.subject_kind == FOLDED


def fold(found: list[Finding]) -> list[Finding]:
    """Warnings and worse, in their order, then one finding per info rule (a single info
    finding stays itself: there is nothing to fold)."""
    keep = [f for f in found if f.severity != FOLD_AT]
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in found:
        if f.severity == FOLD_AT:
            by_rule[f.rule].append(f)
    for rule, group in sorted(by_rule.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(group) == 1:
            keep.append(group[0])
            continue
        kinds = {f.subject_kind for f in group}
        kind = kinds.pop() if len(kinds) == 1 else "subject"
        seen = [t for f in group for t in (f.first_seen, f.last_seen) if t is not None]
        keep.append(Finding(
            rule=rule, severity=FOLD_AT, subject_kind=FOLDED, subject=plural(len(group), kind),
            count=sum(f.count for f in group), first_seen=min(seen, default=None), last_seen=max(seen, default=None),
            summary=f"{plural(len(group), kind)}, such as: {group[0].summary} (and {len(group) - 1:,} more)",
            remedy=group[0].remedy,
            evidence={"findings": [{"subject": f.subject, "count": f.count, "summary": f.summary} for f in group]},
            # one unit when every finding counts the same thing (an undeclared call and flow do not)
            count_unit=units.pop() if len(units := {f.count_unit for f in group}) == 1 else "",
        ))
    return keep


def counts(found: list[Finding]) -> tuple[int, int]:
    """(warnings and worse, info) in ``found``: the Overview's headline and its footnote."""
    info = sum(f.severity == FOLD_AT for f in found)
    return len(found) - info, info
