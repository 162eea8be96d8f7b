"""Idempotency violations (docs/architecture.md#idempotency-violations).

A group violates idempotency when one message was processed at least twice by it and more
than one of those processings produced a side effect. A message is one event id on a topic
(so a duplicate publication read twice counts), or the record's (topic, partition, offset)
when it has no id; as an id and its position name the same message unless the id was
published at several positions, only those records are keyed by id. Side effects are found
under the process span, from standard instrumentation:

- ``event``: a PRODUCER span (or a messaging `send`), a downstream event;
- ``db_write``: a DB span whose operation writes (INSERT, UPDATE, DELETE, UPSERT, MERGE, REPLACE);
- ``http_call``: a CLIENT span with an unsafe method (POST, PUT, PATCH, DELETE).

The walk down from a process span follows parent ids through synchronous calls and stops
at PRODUCER and CONSUMER spans, so what downstream consumers do is never charged to it; it
is done once per trace by the derivation (collectors.derive.processings), and the queries
here read the effects from the `processings` table.
A duplicate with at most one effectful processing is *absorbed*: an idempotent consumer
doing its job. From records alone: two different downstream events of one type with the
same causation id from the same group are a violation too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.analyses.processings import RETRY_TOPIC_RE, as_dt, as_list, for_store, over_processings, params
from dashboard.analyses.window import Window

# Records whose event id sits at more than one position (published twice): their
# processings are keyed by that id, and looked at closely; every other record's id and
# position name the same message, so the position is the key (grouped by a hash: a
# collision only keys a record by its id, which names it as well).
_REPUBLISHED = r"""
SELECT topic, "partition", "offset", event_id FROM records
WHERE event_id IS NOT NULL AND NOT coalesce(is_dead_letter, false)
  AND coalesce("timestamp", tapped_at) >= $start - INTERVAL 1 DAY AND coalesce("timestamp", tapped_at) < $end
  AND hash(topic, event_id) IN (
      SELECT hash(topic, event_id) AS h FROM records
      WHERE event_id IS NOT NULL AND NOT coalesce(is_dead_letter, false)
        AND coalesce("timestamp", tapped_at) >= $start - INTERVAL 1 DAY AND coalesce("timestamp", tapped_at) < $end
      GROUP BY h HAVING count(*) > 1)
"""

# Every processing of a message the group processed more than once, with the side effects
# derived under it (collectors.derive.processings); only candidates can be such processings.
_DUPS_BODY = r"""
republished AS (SELECT * FROM also_positions),
keyed AS NOT MATERIALIZED (
    SELECT p.grp, p.topic, p."partition", p."offset", p.trace_id, p.span_id, p.start_time, p.status_code,
           coalesce(p.service_instance, p.client_id) AS instance, p.via_topic, p.message_id, p.effects,
           r.event_id AS key_id,
           -- the record's topic generation, NULL at an end that is open (docs/architecture.md#topics-created-again)
           nullif(p.gen, '-infinity'::TIMESTAMP) AS gen_from, nullif(p.gen_until, 'infinity'::TIMESTAMP) AS gen_until,
           -- a position names one record in one generation of its topic (a topic created again)
           hash(p.grp, p.topic, r.event_id, CASE WHEN r.event_id IS NULL THEN p."partition" END,
                CASE WHEN r.event_id IS NULL THEN p."offset" END, CASE WHEN r.event_id IS NULL THEN p.gen END) AS mkey
    FROM proc p LEFT JOIN republished r USING (topic, "partition", "offset")
    WHERE p.candidate AND ($grp IS NULL OR p.grp = $grp)
),
dup_keys AS (
    SELECT mkey FROM keyed GROUP BY mkey HAVING count(*) > 1
)
SELECT k.* EXCLUDE (mkey),
       CASE WHEN k.key_id IS NOT NULL THEN k.topic || ' id ' || k.key_id
            ELSE k.topic || '/' || k."partition" || '/' || k."offset"
                 -- the same position in a topic created again is another message
                 || coalesce(' (topic created again ' || strftime(k.gen_from, '%Y-%m-%d %H:%M:%S') || ')', '')
       END AS msg
FROM keyed k SEMI JOIN dup_keys d USING (mkey)
"""
_DUPS = over_processings(_DUPS_BODY, also=_REPUBLISHED, candidates_only=True)


# Step two, over the duplicated processings registered as `_dup_procs` (an Arrow table of
# known, small size): the event id of each, from its record when it has one.
_EFFECTS_CTE = r"""
dups AS (
    SELECT d.* EXCLUDE (key_id, message_id, gen_from, gen_until), coalesce(d.key_id, r.event_id, d.message_id) AS event_id
    FROM _dup_procs d
    LEFT JOIN (  -- the records at those positions only: the join then builds on a few rows
        SELECT topic, "partition", "offset", event_id, tapped_at FROM records
        WHERE event_id IS NOT NULL AND NOT coalesce(is_dead_letter, false)
          AND coalesce("timestamp", tapped_at) >= $start - INTERVAL 1 DAY AND coalesce("timestamp", tapped_at) < $end
          AND hash(topic, "partition", "offset") IN (SELECT hash(topic, "partition", "offset") FROM _dup_procs)
    ) r ON r.topic = d.topic AND r."partition" = d."partition" AND r."offset" = d."offset"
       -- the record of the processing's topic generation
       AND (d.gen_from IS NULL OR r.tapped_at >= d.gen_from) AND (d.gen_until IS NULL OR r.tapped_at < d.gen_until)
),
procs AS (
    SELECT DISTINCT d.grp AS "group", d.msg AS message, d.topic, d."partition", d."offset", d.event_id, d.via_topic,
           d.trace_id, d.span_id, d.start_time, d.status_code, d.instance, d.effects
    FROM dups d
)
"""

_PROCESSINGS = "WITH " + _EFFECTS_CTE + r"""
SELECT * FROM procs ORDER BY "group", message, start_time, span_id
"""  # noqa: S608 (constant SQL; values are bound)

# One row per message, aggregated in SQL: evidence is every processing with its effects,
# built for every message or ($all_evidence false) for violations only, as rules need.
_MESSAGES = "WITH " + _EFFECTS_CTE + r""",
counted AS (
    SELECT "group", message, count(*) FILTER (WHERE len(effects) > 0) AS effectful FROM procs GROUP BY ALL
)
SELECT p."group", p.message, any_value(p.topic) AS topic, any_value(p.event_id) AS event_id,
       list_sort(list_distinct(list([p."partition", p."offset"]))) AS offsets,
       count(*) AS processings, any_value(c.effectful) AS effectful,
       CASE WHEN any_value(c.effectful) > 1 THEN 'violation' ELSE 'absorbed' END AS verdict,
       min(p.start_time) AS first_processed, max(p.start_time) AS last_processed,
       -- ordered by (start_time, span_id) with list_sort: an ordered aggregate keeps a sort per
       -- message, several times slower over tens of thousands of messages; each processing's
       -- effects are added in Python from _dup_procs (nested lists are costly to aggregate)
       list_transform(list_sort(list(struct_pack(
           k1 := p.start_time, k2 := p.span_id,
           e := struct_pack(trace_id := p.trace_id, span_id := p.span_id, "at" := p.start_time,
                            instance := p.instance, "partition" := p."partition", "offset" := p."offset",
                            read_from := p.via_topic, error := p.status_code IS NOT DISTINCT FROM 2)))
           FILTER (WHERE $all_evidence OR c.effectful > 1)), lambda x: x.e) AS evidence
FROM procs p JOIN counted c USING ("group", message)
GROUP BY p."group", p.message
ORDER BY p."group", p.message
"""  # noqa: S608 (constant SQL; values are bound)


def _with_effects(con: duckdb.DuckDBPyConnection, window: Window, group: str | None, query: str,
                  **extra: object) -> tuple[pd.DataFrame, pa.Table] | None:
    """Find the duplicated processings, then run `query` over them; returns its result and
    the duplicated processings, None when there are none."""
    dups = con.sql(for_store(con, _DUPS), params=params(window, grp=group)).to_arrow_table()
    if dups.num_rows == 0:
        return None
    con.register("_dup_procs", dups)
    try:
        return con.execute(query, {"start": window.start, "end": window.end, **extra}).df(), dups
    finally:
        con.unregister("_dup_procs")


def duplicate_processings(con: duckdb.DuckDBPyConnection, window: Window, *,
                          group: str | None = None) -> pd.DataFrame:
    """One row per processing of a message the group processed more than once, with its
    side effects (a list of {effect, target, service, name, trace_id, span_id})."""
    found = _with_effects(con, window, group, _PROCESSINGS)
    if found is None:
        return pd.DataFrame(columns=["group", "message", "topic", "partition", "offset", "event_id", "via_topic",
                                     "trace_id", "span_id", "start_time", "status_code", "instance", "effects"])
    df = found[0]
    df["effects"] = [[dict(e) for e in as_list(v)] for v in df["effects"]]
    return df


def duplicates(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
               evidence: str = "all") -> pd.DataFrame:
    """One row per (group, message) processed more than once: its verdict is 'violation' when
    more than one processing had a side effect, else 'absorbed'. `evidence` lists every
    processing (trace_id, span_id, at, instance, partition, offset, read_from, error, effects),
    for every message, or with evidence="violations" for violations only (empty otherwise)."""
    if evidence not in ("all", "violations"):
        raise ValueError("evidence must be 'all' or 'violations'")
    found = _with_effects(con, window, group, _MESSAGES, all_evidence=evidence == "all")
    if found is None:
        return pd.DataFrame(columns=["group", "message", "topic", "event_id", "offsets", "processings", "effectful",
                                     "verdict", "first_processed", "last_processed", "evidence"])
    df, dups = found
    dups = dups.filter(pc.greater(pc.list_value_length(dups.column("effects")), 0))  # the rest have none
    effects = dict(zip(zip(dups.column("trace_id").to_pylist(), dups.column("span_id").to_pylist(), strict=True),
                       dups.column("effects").to_pylist(), strict=True))
    df["offsets"] = [[(int(p), int(o)) for p, o in as_list(v)] for v in df["offsets"]]
    df["evidence"] = [[_processing(p, effects) for p in as_list(v)] for v in df["evidence"]]
    return df


def _processing(p: dict[str, Any], effects: dict[tuple[str, str], list | None]) -> dict[str, Any]:
    # called for every evidence row of the page: the converted struct is a fresh dict with a
    # datetime already, so it is completed in place
    at = p["at"]
    p["at"] = (at if isinstance(at, datetime) else as_dt(at)).isoformat()
    p["effects"] = effects.get((p["trace_id"], p["span_id"])) or []
    return p


_CAUSATION = r"""
WITH recs AS NOT MATERIALIZED (
    SELECT topic, "partition", "offset", event_id, event_type, causation_id, trace_id, parent_span_id, event_source,
           coalesce("timestamp", tapped_at) AS ts
    FROM records
    WHERE causation_id IS NOT NULL AND NOT coalesce(is_dead_letter, false) AND NOT regexp_matches(topic, $retry_re)
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
),
-- a causation id on two events is on two records: a count over one hash finds the few
-- candidates, and only their records are compared and attributed to a group
multi AS (
    SELECT hash(causation_id, event_type, topic) AS h FROM recs GROUP BY h HAVING count(*) > 1
),
few AS (
    SELECT *, coalesce(event_id, "partition" || '/' || "offset") AS ev FROM recs
    WHERE hash(causation_id, event_type, topic) IN (SELECT h FROM multi)
),
-- two different events: min <> max, no DISTINCT aggregate
cand AS (
    SELECT causation_id, event_type, topic FROM few GROUP BY ALL HAVING min(ev) <> max(ev)
),
picked AS (
    SELECT r.* FROM few r SEMI JOIN cand c
    ON c.causation_id = r.causation_id AND c.topic = r.topic AND c.event_type IS NOT DISTINCT FROM r.event_type
),
-- the PRODUCER span each record's traceparent names, and the CONSUMER span above it
-- (derived: collectors.derive.processings)
prod AS (
    SELECT trace_id, span_id, service,
           CASE WHEN parent_start >= $start - INTERVAL 1 HOUR AND parent_start < $end THEN parent_grp END AS cons_grp
    FROM sends
    WHERE start_time >= $start - INTERVAL 1 HOUR AND start_time < $end
      AND hash(trace_id, span_id) IN (SELECT hash(trace_id, parent_span_id) FROM picked)
),
attributed AS (
    SELECT r.*, coalesce(p.cons_grp, p.service, r.event_source) AS grp
    FROM picked r
    LEFT JOIN prod p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id
)
SELECT grp AS "group", causation_id, event_type, topic, count(DISTINCT ev) AS events,
       list(struct_pack("partition" := "partition", "offset" := "offset", event_id := event_id) ORDER BY ts)
           AS records,
       min(ts) AS first_seen, max(ts) AS last_seen
FROM attributed
WHERE ($grp IS NULL OR grp = $grp)
GROUP BY ALL
HAVING count(DISTINCT ev) > 1
ORDER BY first_seen, "group", causation_id
"""


def causation_duplicates(con: duckdb.DuckDBPyConnection, window: Window, *,
                         group: str | None = None) -> pd.DataFrame:
    """Downstream events of one type with the same causation id from the same group (the group
    of the process span above the producer span; else the producing service or event source)."""
    return con.execute(_CAUSATION, params(window, grp=group, retry_re=RETRY_TOPIC_RE)).df()


def summary(con: duckdb.DuckDBPyConnection, window: Window, topology: Any = None) -> pd.DataFrame:
    """Per group: messages processed more than once, absorbed, violations, causation duplicates,
    and whether the topology claims the group is idempotent."""
    dup = duplicates(con, window, evidence="violations")
    cau = causation_duplicates(con, window)
    groups = sorted(set(dup["group"]) | set(cau["group"].dropna()))
    claimed = {g.name: g.idempotent for g in topology.groups.values()} if topology is not None else {}
    rows = []
    for g in groups:
        d = dup[dup["group"] == g]
        rows.append({"group": g, "duplicates": len(d), "absorbed": int((d["verdict"] == "absorbed").sum()),
                     "violations": int((d["verdict"] == "violation").sum()),
                     "causation_duplicates": int((cau["group"] == g).sum()), "claimed_idempotent": claimed.get(g)})
    return pd.DataFrame(rows, columns=["group", "duplicates", "absorbed", "violations", "causation_duplicates",
                                       "claimed_idempotent"])
