"""EVENT_ID_COLLISION: one event id used by different payloads on a topic."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.redeliveries import duplicate_publications, publication_groups
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding
from dashboard.findings.registry import Rule, register, shared


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    return [rule.finding(
        subject_kind="topic", subject=str(topic), count=int(df["copies"].sum()), first_seen=first, last_seen=last,
        summary=f"{len(df)} event ids used by different payloads on {topic} ({int(df['copies'].sum())} records)",
        evidence={"event_ids": ids},
    ) for topic, df, ids, first, last in publication_groups(shared(duplicate_publications, con, window), "collision")]


RULE = register(Rule(
    id="EVENT_ID_COLLISION", severity="error", page="redeliveries", also_on=("event-design",), family="audit",
    remedy="Give every event a unique, stable id (a UUID at creation, kept on retries); "
           "consumers deduplicating on it drop real events.",
    counts="record",
    find=find))
