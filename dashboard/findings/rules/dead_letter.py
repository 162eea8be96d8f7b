"""DEAD_LETTER: records on a dead-letter topic; error while any of them is not recovered."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.dead_letters import dead_letters
from dashboard.analyses.processings import as_dt
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

SAMPLE = 20


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per dead-letter topic: error while any is unrecovered, else warning."""
    df = dead_letters(con, window)
    out: list[Finding] = []
    for dlt, part in df.groupby("dlt_topic", sort=True):
        open_ = int((~part["recovered"].astype(bool)).sum())
        errors = part["error_class"].dropna().value_counts().to_dict()
        groups = sorted(part["group"].dropna().unique().tolist())
        origins = sorted(part["origin_topic"].dropna().unique().tolist())
        who = f"group {', '.join(groups)}" if groups else "an unknown consumer"
        out.append(rule.finding(
            severity="error" if open_ else "warning", subject_kind="topic", subject=str(dlt), count=len(part),
            first_seen=as_dt(part["dead_lettered_at"].min()), last_seen=as_dt(part["dead_lettered_at"].max()),
            summary=(f"{plural(len(part), 'record')} of {', '.join(origins) or 'an unknown topic'} dead-lettered by {who}, "
                     f"{open_} not recovered"
                     + (f"; {', '.join(f'{k} ×{v}' for k, v in errors.items())}" if errors else "")),
            evidence={
                "groups": groups, "origin_topics": origins,
                "errors": {k: int(v) for k, v in errors.items()}, "unrecovered": open_,
                "records": [
                    {"partition": int(r.dlt_partition), "offset": int(r.dlt_offset), "group": _none(r.group),
                     "origin": {"topic": _none(r.origin_topic), "partition": _int(r.origin_partition),
                                "offset": _int(r.origin_offset)},
                     "event_id": _none(r.event_id), "family": r.family, "error": _none(r.error_class),
                     "message": _none(r.error_message), "recovered_by": _none(r.recovered_by)}
                    for r in part.head(SAMPLE).itertuples(index=False)
                ],
            },
        ))
    return out


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _int(v: Any) -> int | None:
    return None if _none(v) is None or pd.isna(v) else int(v)


RULE = register(Rule(
    id="DEAD_LETTER", severity="error", page="dead-letters", family="audit",
    remedy="Fix the cause in the consumer, then replay the dead letters to the origin topic; "
           "events must stay valid facts that any consumer can process.",
    counts="record", units={"unrecovered": "record"},
    find=find))
