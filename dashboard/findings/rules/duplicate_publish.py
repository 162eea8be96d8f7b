"""DUPLICATE_PUBLISH: the same event (same id, same payload) published more than once on a topic."""

from __future__ import annotations

from typing import Any

import duckdb

from dashboard.analyses.redeliveries import duplicate_publications, publication_groups
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register, shared


def _copies(n: int) -> str:
    return "1 of them a copy" if n == 1 else f"{n:,} of them copies"


def _replayed(n: int) -> str:
    """How many of the events have copies both before and after their topic was created again."""
    if not n:
        return ""
    return f"; {'1 of them' if n == 1 else f'{n:,} of them'} both before and after the topic was deleted and created again"


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    return [rule.finding(
        subject_kind="topic", subject=str(topic), count=int(df["copies"].sum()), first_seen=first, last_seen=last,
        summary=f"{plural(len(df), 'event')} published more than once on {topic} "
                f"({plural(int(df['copies'].sum()), 'record')}, {_copies(int(df['copies'].sum() - len(df)))}"
                f"{_replayed(int((df['generations'] > 1).sum()))})",
        evidence={"event_ids": ids},
    ) for topic, df, ids, first, last in publication_groups(shared(duplicate_publications, con, window), "duplicate")]


RULE = register(Rule(
    id="DUPLICATE_PUBLISH", severity="warning", page="redeliveries", family="audit",
    remedy="Enable the idempotent producer (enable.idempotence) or deduplicate the outbox relay; "
           "consumers must stay idempotent on the event id. A replay into a topic created again publishes "
           "each event a second time: groups that read the old topic see it twice unless they deduplicate.",
    counts="record",
    find=find))
