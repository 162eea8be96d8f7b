"""OUT_OF_ORDER_PROCESSING: a group processed one entity's events in an order other than their production order."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.ordering import overtaken
from dashboard.analyses.processings import as_dt
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

SAMPLE = 5


def _at(value: Any) -> str | None:
    t = as_dt(value)
    return t.isoformat() if t else None


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    out = []
    for (group, topic), g in overtaken(con, window).groupby(["consumer_group", "topic"], sort=True):
        late = g.drop_duplicates(["then_partition", "then_offset"])
        n, entities = len(late), g["entity"].nunique()
        causes = {str(k): int(v) for k, v in sorted(g["cause"].value_counts().items())}
        examples = [{
            "entity": r.entity, "cause": r.cause,
            "produced": [f"{r.first_type} {r.first_partition}/{r.first_offset} key {r.first_key}",
                         f"{r.then_type} {r.then_partition}/{r.then_offset} key {r.then_key}"],
            "processed": [f"{r.then_type} at {_at(r.then_processed)}", f"{r.first_type} at {_at(r.first_processed)}"],
        } for r in g.drop_duplicates("entity").head(SAMPLE).itertuples()]
        out.append(rule.finding(
            subject_kind="group", subject=str(group), count=n,
            first_seen=as_dt(late["then_processed"].min()), last_seen=as_dt(late["then_processed"].max()),
            summary=(f"{group} processed {plural(n, 'event')} of {topic} before an earlier event of the same "
                     f"entity ({plural(entities, 'entity')}; " + ", ".join(f"{k}: {v}" for k, v in causes.items())
                     + ")"),
            evidence={"topic": topic, "causes": causes, "entities": int(entities), "examples": examples,
                      "trace_ids": list(dict.fromkeys(late["trace_id"]))},
        ))
    return out


RULE = register(Rule(
    id="OUT_OF_ORDER_PROCESSING", severity="warning", page="event-design", family="traces",
    remedy="Key every event of an entity by that entity's id so they share a partition, and keep retries "
           "in order (a blocking retry, or park the entity's later events while one is retried).",
    counts="event", units={"entities": "entity"},
    find=find))
