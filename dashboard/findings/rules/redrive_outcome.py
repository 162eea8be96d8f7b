"""REDRIVE_OUTCOME: what became of the dead letters `seamwatch redrive` replayed, one finding per
dead-letter topic and outcome, each replayed record in its evidence."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.processings import as_dt
from dashboard.analyses.redrives import OUTCOMES, redrives
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

SHOWN = 10  # record ids named in a summary
KEPT = 500  # records in a finding's evidence

_SEVERITY = {"failed again": "error", "in doubt": "warning", "quarantined": "warning", "not reached": "info",
             "processed": "info"}
_SAYS = {
    "failed again": "failed again after the replay",
    "in doubt": "in doubt: a redrive stopped before the broker confirmed them (the next run settles them)",
    "quarantined": "quarantined: dead-lettered again after their last allowed replay, left alone",
    "not reached": "replayed, not reached by their group yet",
    "processed": "replayed and processed by their group",
}
_REMEDY = {
    "failed again": "The cause is not fixed: look at the new dead letter's error before replaying again.",
    "in doubt": "Run seamwatch redrive again for this topic: it finds what landed and sends only the rest.",
    "quarantined": "Fix the cause, then replay with a higher --max-replays, or drop the event on purpose.",
    "not reached": "Nothing to do unless the group stays behind: see its lag.",
    "processed": "Nothing to do: the replays were processed.",
}


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    df = redrives(con, window)
    out: list[Finding] = []
    for (dlt, outcome), part in df.groupby(["dlt_topic", "outcome"], sort=True):
        groups = sorted(part["group"].dropna().unique().tolist())
        ids = [_pair(r) for r in part.itertuples(index=False)]
        named = ", ".join(ids[:SHOWN]) + (f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else "")
        out.append(rule.finding(
            severity=_SEVERITY[str(outcome)], subject_kind="topic", subject=f"{dlt} ({outcome})", count=len(part),
            first_seen=as_dt(part["redriven_at"].min()), last_seen=as_dt(part["redriven_at"].max()),
            summary=(f"{plural(len(part), 'dead letter')} of {dlt} {_SAYS[str(outcome)]}"
                     + (f" (group {', '.join(groups)})" if groups else "") + f": {named}"),
            remedy=_REMEDY[str(outcome)],
            evidence={"outcome": outcome, "groups": groups, "records": [
                {"dead_letter": r.dead_letter, "replay": _none(r.replay), "group": _none(r.group),
                 "replay_count": None if _none(r.replay_count) is None else int(r.replay_count),
                 "outcome": r.outcome, "new_dead_letter": _none(r.new_dead_letter), "reason": _none(r.reason)}
                for r in part.head(KEPT).itertuples(index=False)]},
        ))
    order = {o: i for i, o in enumerate(OUTCOMES)}
    return sorted(out, key=lambda f: order[f.evidence["outcome"]])


def _pair(r: Any) -> str:
    return f"{r.dead_letter} → {r.replay}" if _none(r.replay) is not None else str(r.dead_letter)


def _none(v: Any) -> Any:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


RULE = register(Rule(
    id="REDRIVE_OUTCOME", severity="error", page="dead-letters", family="audit",
    remedy="Replay dead letters only once their cause is fixed; a replay that fails again goes back to the "
           "dead-letter topic.",
    counts="dead letter",
    find=find))
