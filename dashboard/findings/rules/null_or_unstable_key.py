"""NULL_OR_UNSTABLE_KEY: records without a key, keyed by the event id, or one event id under several keys."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.event_design import (
    KEY_IS_ID_SHARE,
    KEY_MIN_RECORDS,
    SAMPLE,
    event_types,
    seen_between,
    unstable_keys,
)
from dashboard.analyses.processings import as_list
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    out = []
    unstable = unstable_keys(con, window).set_index("topic")
    for topic, df in shared(event_types, con, window).groupby("topic", sort=True):
        records = int(df["records"].sum())
        null_key = int(df["null_key"].sum())
        key_is_id = int(df["key_is_event_id"].sum())
        several = int(unstable.loc[topic, "ids_with_several_keys"]) if topic in unstable.index else 0
        problems, evidence = [], {}
        if null_key:
            problems.append(f"{null_key} of {records} records have no key")
            evidence["null_key"] = null_key
            evidence["sample_null_key"] = [x for s in df["sample_null_key"] for x in as_list(s)][:SAMPLE]
        if records >= KEY_MIN_RECORDS and key_is_id >= KEY_IS_ID_SHARE * records:
            problems.append("the key is the event id, so one entity's events are not kept in order")
            evidence["key_is_event_id"] = key_is_id
        if several:
            problems.append(f"{several} event ids were published under different keys")
            evidence["ids_with_several_keys"] = several
            evidence["sample_ids"] = as_list(unstable.loc[topic, "sample_ids"])
        if problems:
            first, last = seen_between(df)
            out.append(rule.finding(
                subject_kind="topic", subject=str(topic),
                count=null_key + several + (key_is_id if "key_is_event_id" in evidence else 0),
                first_seen=first, last_seen=last, summary=f"{topic}: " + "; ".join(problems), evidence=evidence,
                # records without a key or keyed by their id, and event ids under several keys
                count_unit="event id" if not (null_key or "key_is_event_id" in evidence)
                else "record or event id" if several else "record",
            ))
    return out


RULE = register(Rule(
    id="NULL_OR_UNSTABLE_KEY", severity="warning", page="event-design", family="audit",
    remedy="Key every event by the id of the entity it is about (order id, account id), "
           "so its events stay in one partition, in order.",
    counts="record",
    find=find))
