"""PRODUCER_CLOCK_SKEW: records whose producer timestamp is far from any clock that could be right."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.clock_skew import SKEW, skewed_records
from dashboard.analyses.processings import as_dt
from dashboard.analyses.records import record_id
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, duration, plural
from dashboard.findings.registry import Rule, register

SAMPLE = 10


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per topic; the records come by when the tap read them, their timestamps being wrong."""
    out = []
    for topic, g in skewed_records(con, window).groupby("topic", sort=True):
        clocks = {str(k): int(v) for k, v in g["clock"].value_counts().sort_index().items()}
        worst = pd.Timedelta(g["off_by"].max()).to_pytimedelta()
        one = len(g) == 1
        said = " and ".join(f"{n:,} " + ("stamped after the tap read " + ("it" if one else "them") if k == "ahead"
                                          else "behind the records before " + ("it" if one else "them"))
                            for k, n in clocks.items())
        out.append(rule.finding(
            subject_kind="topic", subject=str(topic), count=len(g),
            first_seen=as_dt(g["tapped_at"].min()), last_seen=as_dt(g["tapped_at"].max()),
            summary=(f"{plural(len(g), 'record')} on {topic} {'carries' if one else 'carry'} a producer timestamp "
                     f"more than {SKEW / timedelta(hours=1):g} h off ({said}, by up to {duration(worst.total_seconds())}): time lag "
                     "and time windows read it"),
            evidence={"clocks": clocks, "records": [
                {"record": record_id(r.topic, r.partition, r.offset), "timestamp": as_dt(r.timestamp),
                 "tapped_at": as_dt(r.tapped_at), "clock": r.clock,
                 "off_by": round(pd.Timedelta(r.off_by) / timedelta(hours=1), 1)}
                for r in g.head(SAMPLE).itertuples(index=False)]},
        ))
    return out


RULE = register(Rule(
    id="PRODUCER_CLOCK_SKEW", severity="warning", page="records", family="audit",
    remedy="Fix the producer host's clock (NTP), or have the broker stamp the topic's records "
           "(message.timestamp.type=LogAppendTime). A republisher that keeps its input's time (Kafka Streams, a "
           "replay) skews on purpose: time lag on its topic counts from the original event.",
    counts="record", units={"off_by": "h", "clocks": "record"},
    find=find))
