"""IDEMPOTENCY_VIOLATION: a group whose duplicate processings produced side effects more than once."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.idempotency import causation_duplicates, duplicates
from dashboard.analyses.processings import as_dt
from dashboard.analyses.records import identities
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding, plural
from dashboard.findings.registry import Rule, register

SAMPLE = 20


def find(rule: Rule, con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> list[Finding]:
    """One per group, with every violating message's processings and effects."""
    dup = duplicates(con, window, evidence="violations")
    cau = causation_duplicates(con, window)
    viol = dup[dup["verdict"] == "violation"]
    # which business entity each sampled message is about: key, subject, entity ids (of a topic
    # created again, the record of the generation it was processed in)
    sampled = [r for r in viol.groupby("group", sort=False).head(SAMPLE).itertuples(index=False) if len(r.offsets)]
    found = identities(con, [(r.topic, int(r.offsets[0][0]), int(r.offsets[0][1]), r.first_processed)
                             for r in sampled], window=window)
    about = {(r.group, r.message): who for r, who in zip(sampled, found, strict=True) if who}
    out: list[Finding] = []
    for g in sorted(set(viol["group"]) | set(cau["group"].dropna())):
        v = viol[viol["group"] == g]
        c = cau[cau["group"] == g]
        absorbed = int(((dup["group"] == g) & (dup["verdict"] == "absorbed")).sum())
        # one message violated through traces and through causation ids counts once
        ids = {e for e in v["event_id"].dropna()}
        count = len(v) + sum(1 for cid in c["causation_id"] if cid not in ids)
        # the processings are the evidence; downstream record times only when no trace shows them
        spans = (*v["first_processed"], *v["last_processed"])
        times = [t for t in (spans if len(v) else (*c["first_seen"], *c["last_seen"])) if not pd.isna(t)]
        declared = topology.groups.get(g) if topology is not None else None
        claim = " although the topology declares it idempotent" if declared is not None and declared.idempotent else ""
        out.append(rule.finding(
            subject_kind="group", subject=str(g), count=count,
            first_seen=as_dt(min(times)) if times else None, last_seen=as_dt(max(times)) if times else None,
            summary=(f"{plural(count, 'message')} produced side effects more than once{claim}"
                     + (f" ({absorbed} other duplicates absorbed)" if absorbed else "")),
            evidence={
                "absorbed": absorbed,
                "messages": [
                    {"message": r.message, "topic": r.topic, "event_id": r.event_id,
                     "offsets": [list(o) for o in r.offsets], "processings": r.evidence,
                     **({"about": about[(g, r.message)]} if (g, r.message) in about else {})}
                    for r in v.head(SAMPLE).itertuples(index=False)
                ],
                "causation_duplicates": [
                    {"causation_id": r.causation_id, "event_type": r.event_type, "topic": r.topic,
                     "records": [dict(x) for x in r.records]}
                    for r in c.head(SAMPLE).itertuples(index=False)
                ],
            },
        ))
    return out


RULE = register(Rule(
    id="IDEMPOTENCY_VIOLATION", severity="error", page="idempotency", family="audit",
    remedy="Make the consumer idempotent: record processed event ids (or use the id as a unique "
           "key) in the same transaction as the side effect.",
    counts="message",
    find=find))
