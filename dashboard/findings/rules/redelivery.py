"""REDELIVERY: a group that processed records more than once; warning when it is crash-looping."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.processings import as_dt
from dashboard.analyses.records import identities
from dashboard.analyses.redeliveries import CAUSES, CRASH_LOOP_RESTARTS, record_keys, redeliveries, restarts
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

_REMEDY = {
    "retry_topic": "Retries through retry topics redeliver by design: make the consumer idempotent on the event id.",
    "offset_reset": "An offset reset replays events: make consumers idempotent and announce resets before doing them.",
    "restart_rebalance": "Find why instances restart or rebalance (crashes, max.poll.interval.ms) "
                         "and commit offsets after each processed event.",
    "blocking_retry": "Bound in-process retries and send poison events to a dead-letter topic; "
                      "keep the consumer idempotent.",
    "unknown": "Redelivery is normal at least once: make the consumer idempotent on the event id.",
}


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per group. Redelivery is what at-least-once delivery does, so it is info; a group whose
    records moved to a new instance CRASH_LOOP_RESTARTS times or more is crash-looping: warning."""
    out: list[Finding] = []
    for grp, df in redeliveries(con, window).groupby("group", sort=True):
        causes = df["cause"].value_counts().to_dict()
        extra = int((df["processings"] - 1).sum())
        main = max(causes, key=lambda c: (causes[c], -CAUSES.index(c)))
        n_restarts = restarts(df)
        looping = n_restarts >= CRASH_LOOP_RESTARTS
        out.append(rule.finding(
            severity="warning" if looping else "info", subject_kind="group", subject=str(grp), count=len(df),
            first_seen=as_dt(df["first_redelivered"].min()), last_seen=as_dt(df["last_processed"].max()),
            summary=(f"{plural(len(df), 'record')} processed more than once ({plural(extra, 'extra processing')}), "
                     + (f"after {n_restarts} restarts: the consumer is crash-looping" if looping
                        else f"mostly {main.replace('_', ' ')}")),
            remedy=_REMEDY[main],
            evidence={"causes": {k: int(v) for k, v in causes.items()}, "extra_processings": extra,
                      "restarts": n_restarts, "topics": sorted(df["topic"].unique().tolist()),
                      "records": _with_identity(con, window, df)},
        ))
    return out


def _with_identity(con: duckdb.DuckDBPyConnection, window: Window, df: pd.DataFrame) -> list[dict[str, Any]]:
    """Each sampled record with who it is about (key, subject, entity ids) when the tap holds it: of
    a topic created again, the record of the generation it was processed in."""
    rows = record_keys(df)
    about = identities(con, [(r["topic"], r["partition"], r["offset"], at) for r, at in
                             zip(rows, df["first_processed"].head(len(rows)), strict=True)], window=window)
    return [{**r, "about": found} if found else r for r, found in zip(rows, about, strict=True)]


RULE = register(Rule(
    id="REDELIVERY", severity="warning", page="redeliveries", family="audit",
    remedy=_REMEDY["unknown"], counts="record", units={"extra_processings": "processing", "restarts": "restart", "processings": "processing"}, find=find))
