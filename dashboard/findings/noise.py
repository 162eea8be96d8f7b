"""Findings noise: info findings folded into one row per rule, so they never crowd out the rest.

A live broker with old test groups yields a hundred info UNDECLARED_EDGE findings (one per
stale group) beside a handful of warnings and errors; listed one by one, they push what
matters off the Overview, the Findings table and What changed. Pages show ``fold(found)``:
every warning and worse as it is, then one row per info rule that stands for all of its
findings and lists their subjects in its evidence.

A cluster of production size does the same with warnings: 200 topics without envelopes are
200 ENVELOPE_MISSING rows above the one error that matters. A warning rule with more than
FOLD_WARNINGS_OVER findings is one row too, where its first finding stood. So is an error
rule with more than FOLD_ERRORS_OVER: a cluster of 240 consumer groups that stopped is 240
CONSUMER_LAG rows, one cause (often stale groups, or one service down) that would push every
other error off the page. Criticals are never folded.
"""

from __future__ import annotations

from collections import defaultdict

from dashboard.findings.model import Finding, plural

# The subject kind of a folded row: its subject is "<n> <kind>s" and its key ends in ":*".
FOLDED = "findings"
FOLD_AT = "info"


def is_folded(f: Finding) -> bool:
    return f.subject_kind == FOLDED


def kind_before_subject(f: Finding) -> str:
    """What goes before a finding's subject in a sentence: its kind ("topic "), or nothing for a
    folded row, whose subject says it ("60 groups")."""
    return "" if is_folded(f) else f"{f.subject_kind} "


FOLD_WARNINGS_OVER = 12  # a warning rule with more findings than this is one row
FOLD_ERRORS_OVER = 40  # and an error rule with more than this
_FOLD_OVER = {"warning": FOLD_WARNINGS_OVER, "error": FOLD_ERRORS_OVER}


def fold(found: list[Finding], *, warnings: bool = True) -> list[Finding]:
    """Warnings and worse, in their order (a warning rule of more than FOLD_WARNINGS_OVER findings, or
    an error rule of more than FOLD_ERRORS_OVER, as one row where its first one stood, unless
    ``warnings`` is False), then one finding per info rule (a single info finding stays itself:
    there is nothing to fold)."""
    by_rule: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in found:
        by_rule[(f.severity, f.rule)].append(f)
    keep: list[Finding] = []
    for f in found:
        if f.severity == FOLD_AT:
            continue
        group = by_rule[(f.severity, f.rule)]
        over = _FOLD_OVER.get(f.severity)  # None: never folded (criticals)
        if not (warnings and over is not None and len(group) > over):
            keep.append(f)
        elif f is group[0]:
            keep.append(_folded(f.rule, f.severity, group))
    info = sorted(((rule, group) for (sev, rule), group in by_rule.items() if sev == FOLD_AT),
                  key=lambda kv: (-len(kv[1]), kv[0]))
    keep.extend(group[0] if len(group) == 1 else _folded(rule, FOLD_AT, group) for rule, group in info)
    return keep


def _folded(rule: str, severity: str, group: list[Finding]) -> Finding:
    """One row standing for all of a rule's findings, their subjects in its evidence."""
    kinds = {f.subject_kind for f in group}
    kind = kinds.pop() if len(kinds) == 1 else "subject"
    seen = [t for f in group for t in (f.first_seen, f.last_seen) if t is not None]
    return Finding(
        rule=rule, severity=severity, subject_kind=FOLDED, subject=plural(len(group), kind),
        count=sum(f.count for f in group), first_seen=min(seen, default=None), last_seen=max(seen, default=None),
        summary=f"{plural(len(group), kind)}, such as: {group[0].summary} (and {len(group) - 1:,} more)",
        remedy=group[0].remedy,
        evidence={"findings": [{"subject": f.subject, "count": f.count, "summary": f.summary} for f in group]},
        # one unit when every finding counts the same thing (an undeclared call and flow do not)
        count_unit=units.pop() if len(units := {f.count_unit for f in group}) == 1 else "",
    )


def counts(found: list[Finding]) -> tuple[int, int]:
    """(warnings and worse, info) in ``found``: the Overview's headline and its footnote."""
    info = sum(f.severity == FOLD_AT for f in found)
    return len(found) - info, info
