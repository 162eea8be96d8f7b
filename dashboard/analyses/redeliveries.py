"""Redeliveries and duplicate publications (docs/architecture.md#redeliveries-and-duplicates).

A redelivery is the same record (topic, partition, offset) processed more than once by one
consumer group. Its cause, where the data tells it, is one of:

- ``retry_topic``: one of the processings read a `-retry-N` copy of the record;
- ``offset_reset``: the group's committed offset moved backwards over the record
  (group_offsets), so a contiguous range was read again;
- ``restart_rebalance``: the processings ran on different instances or clients;
- ``blocking_retry``: the same instance processed it again within seconds (an in-memory
  retry, delivery-attempt header rising);
- ``unknown``: none of the above can be shown.

A duplicate publication is one event id at more than one offset of a topic (a producer
retry without idempotence, an outbox relay publishing twice). When the copies' payloads
differ, two different events share an id: an id collision.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from collectors.normalize.deadletter import PROVENANCE
from dashboard.analyses.processings import (
    GENERATION_SPANS,
    RETRY_TOPIC_RE,
    as_dt,
    as_list,
    bucket_us,
    for_store,
    over_processings,
    params,
)
from dashboard.analyses.window import Window

# Same instance, processed again within this many seconds: an in-process (blocking) retry.
BLOCKING_RETRY_MAX_GAP_S = 60
# Records moving to a new instance this often within the window is a crash loop (warning).
CRASH_LOOP_RESTARTS = 2
CAUSES = ("retry_topic", "offset_reset", "restart_rebalance", "blocking_retry", "unknown")

_REDELIVERIES = over_processings(r"""
sel AS (  -- a record read more than once is among the candidates (processings)
    SELECT * FROM proc
    WHERE candidate AND ($grp IS NULL OR grp = $grp) AND ($topic IS NULL OR topic = $topic)
),
dup AS (  -- a record: its position in one generation of its topic (a topic created again restarts offsets)
    SELECT grp, topic, "partition", "offset", gen FROM sel GROUP BY ALL HAVING count(*) > 1
),
seq AS (
    SELECT s.*, lag(s.start_time) OVER (PARTITION BY grp, topic, "partition", "offset", gen ORDER BY start_time) AS prev_start
    FROM sel s SEMI JOIN dup USING (grp, topic, "partition", "offset", gen)
),
agg AS (
    SELECT grp, topic, "partition", "offset", gen,
           count(*) AS processings,
           count(*) FILTER (WHERE status_code = 2) AS failed,
           min(start_time) AS first_processed, max(start_time) AS last_processed,
           min(start_time) FILTER (WHERE prev_start IS NOT NULL) AS first_redelivered,
           count(DISTINCT service_instance) AS instances, count(DISTINCT client_id) AS clients,
           max(epoch_us(start_time) - epoch_us(prev_start)) / 1e6 AS max_gap_s,
           bool_or(via_retry_topic) AS via_retry,
           list(DISTINCT via_topic ORDER BY via_topic) AS read_from,
           list(span_id ORDER BY start_time, span_id) AS span_ids,
           list(DISTINCT coalesce(service_instance, client_id) ORDER BY coalesce(service_instance, client_id))
               FILTER (WHERE coalesce(service_instance, client_id) IS NOT NULL) AS instance_ids
    FROM seq GROUP BY ALL
),
resets AS (
    SELECT group_id AS grp, topic, "partition", polled_at, committed_offset AS reset_to, prev AS reset_from
    FROM (
        SELECT group_id, topic, "partition", polled_at, committed_offset,
               lag(committed_offset) OVER (PARTITION BY cluster, group_id, topic, "partition" ORDER BY polled_at) AS prev
        FROM group_offsets
        WHERE polled_at >= $start - INTERVAL 1 HOUR AND polled_at < $end AND committed_offset IS NOT NULL
          -- only the partitions with redeliveries: the window runs over their polls alone
          AND (group_id, topic, "partition") IN (SELECT (grp, topic, "partition") FROM agg)
    )
    WHERE committed_offset < prev
)
SELECT a.grp AS "group", a.topic, a."partition", a."offset", a.processings, a.failed,
       a.first_processed, a.first_redelivered, a.last_processed, a.instances, a.clients, a.max_gap_s, a.read_from, a.span_ids, a.instance_ids,
       nullif(a.gen, '-infinity'::TIMESTAMP) AS generation,  -- when the record's topic was created again, if it was
       CASE WHEN a.via_retry THEN 'retry_topic'
            WHEN EXISTS (SELECT 1 FROM resets r
                         WHERE r.grp = a.grp AND r.topic = a.topic AND r."partition" = a."partition"
                           AND a."offset" >= r.reset_to AND a."offset" < r.reset_from
                           AND r.polled_at > a.first_processed) THEN 'offset_reset'
            WHEN a.instances > 1 OR a.clients > 1 THEN 'restart_rebalance'
            WHEN a.max_gap_s <= $max_gap THEN 'blocking_retry'
            ELSE 'unknown' END AS cause
FROM agg a
ORDER BY a.first_processed, a.grp, a.topic, a."partition", a."offset", a.gen
""", candidates_only=True)


def redeliveries(con: duckdb.DuckDBPyConnection, window: Window, *, group: str | None = None,
                 topic: str | None = None) -> pd.DataFrame:
    """One row per record processed more than once by a group, with its cause (see module doc)."""
    return con.execute(
        for_store(con, _REDELIVERIES), params(window, grp=group, topic=topic, max_gap=BLOCKING_RETRY_MAX_GAP_S)
    ).df()


_RATE = over_processings(r"""
sel AS NOT MATERIALIZED (  -- read twice, streamed both times: cheaper than holding every processing
    SELECT grp, topic, "partition", "offset", gen, start_time, candidate FROM proc
    WHERE ($grp IS NULL OR grp = $grp) AND ($topic IS NULL OR topic = $topic)
),
totals AS (
    SELECT time_bucket(to_microseconds($bucket_us), start_time) AS bucket, grp, count(*) AS processings
    FROM sel GROUP BY ALL
),
-- redeliveries are rare: number the processings of the records read more than once only
dup AS (
    SELECT hash(grp, topic, "partition", "offset", gen) AS h FROM sel WHERE candidate GROUP BY h HAVING count(*) > 1
),
extra AS (
    SELECT time_bucket(to_microseconds($bucket_us), start_time) AS bucket, grp, count(*) AS redeliveries
    FROM (
        SELECT grp, start_time,
               row_number() OVER (PARTITION BY grp, topic, "partition", "offset", gen ORDER BY start_time) AS nth
        FROM sel WHERE candidate AND hash(grp, topic, "partition", "offset", gen) IN (SELECT h FROM dup)
    )
    WHERE nth > 1
    GROUP BY ALL
)
SELECT t.bucket, t.grp AS "group", t.processings, coalesce(e.redeliveries, 0) AS redeliveries,
       coalesce(e.redeliveries, 0) / t.processings AS rate
FROM totals t LEFT JOIN extra e USING (bucket, grp)
ORDER BY t.bucket, "group"
""")



def redelivery_rate(con: duckdb.DuckDBPyConnection, window: Window, *, bucket: timedelta | None = None,
                    group: str | None = None, topic: str | None = None) -> pd.DataFrame:
    """Per time bucket and group: processings, how many were redeliveries, and their share."""
    return con.execute(
        for_store(con, _RATE), params(window, grp=group, topic=topic, bucket_us=bucket_us(bucket, window))
    ).df()


_PROCESSINGS_OF = over_processings(r"""
sel AS (
    SELECT * FROM proc WHERE grp = $grp AND topic = $topic AND "partition" = $partition AND "offset" = $offset
      AND gen = coalesce($generation::TIMESTAMP, '-infinity'::TIMESTAMP)
)
SELECT s.grp AS "group", s.topic, s."partition", s."offset", s.via_topic, s.via_offset,
       s.trace_id, s.span_id, s.service, s.service_instance, s.client_id, s.start_time, s.duration_us,
       s.status_code, st.status_message, s.delivery_attempt
FROM sel s
JOIN spans st ON st.trace_id = s.trace_id AND st.span_id = s.span_id
WHERE st.kind = 5 AND st.start_time >= $start AND st.start_time < $end
ORDER BY s.start_time
""")


def processings_of(con: duckdb.DuckDBPyConnection, window: Window, *, group: str, topic: str,
                   partition: int, offset: int, generation: datetime | None = None) -> pd.DataFrame:
    """Drill-down: every processing of one record by one group (retry-topic copies included).
    ``generation``: the record's (a redeliveries row's), for a topic created again; None for the
    topic as first created (every topic never created again)."""
    return con.execute(
        for_store(con, _PROCESSINGS_OF),
        params(window, grp=group, topic=topic, partition=partition, offset=offset, generation=generation)
    ).df()


_DUPLICATE_PUBLICATIONS = rf"""
WITH recs AS (
    SELECT cluster, topic, event_id, "partition", "offset", value_hash, event_type, tapped_at,
           coalesce("timestamp", tapped_at) AS ts
    FROM records
    WHERE event_id IS NOT NULL AND NOT coalesce(is_dead_letter, false)
      AND NOT regexp_matches(topic, $retry_re)
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
      AND ($topic IS NULL OR topic = $topic)
      -- a redrive's replay is a deliberate second publication (REDRIVE_OUTCOME follows it up)
      AND NOT contains(coalesce(headers, ''), $redriven)
),
-- a position holds one record of each topic generation (the store ingests each once), so a
-- plain count finds the candidates cheaply; only their records are aggregated in detail
cand AS (  -- per cluster: the same topic on another cluster is another log (a mirror, say)
    SELECT cluster, topic, event_id FROM recs GROUP BY ALL HAVING count(*) > 1
),
gens AS ({GENERATION_SPANS}),
located AS (  -- of a topic created again, the generation each copy was tapped in (NULL: the first)
    SELECT r.*, nullif(g.since, '-infinity'::TIMESTAMP) AS generation
    FROM (SELECT * FROM recs SEMI JOIN cand USING (cluster, topic, event_id)) r
    LEFT JOIN gens g ON g.topic = r.topic AND r.tapped_at >= g.since AND r.tapped_at < g.until
)
SELECT cluster, topic, event_id,
       count(DISTINCT ("partition", "offset", generation)) AS copies,
       count(DISTINCT value_hash) AS payloads,
       count(DISTINCT event_type) AS event_types,
       count(DISTINCT coalesce(generation, '-infinity'::TIMESTAMP)) AS generations,
       list(struct_pack("partition" := "partition", "offset" := "offset", value_hash := value_hash,
                        event_type := event_type, generation := generation, tapped_at := tapped_at)
            ORDER BY generation NULLS FIRST, "partition", "offset") AS locations,
       min(ts) AS first_seen, max(ts) AS last_seen,
       CASE WHEN count(DISTINCT value_hash) > 1 OR count(DISTINCT event_type) > 1
            THEN 'collision' ELSE 'duplicate' END AS kind
FROM located
GROUP BY cluster, topic, event_id
HAVING count(DISTINCT ("partition", "offset", generation)) > 1
ORDER BY first_seen, cluster, topic, event_id
"""  # noqa: S608 (constant SQL; values are bound)


def duplicate_publications(con: duckdb.DuckDBPyConnection, window: Window, *,
                           topic: str | None = None) -> pd.DataFrame:
    """Event ids seen at more than one offset of a topic, or in more than one generation of a
    topic created again; kind is 'duplicate' or 'collision'. Each of its ``locations`` names
    the copy's generation (None: the topic as first created) and when it was tapped."""
    return con.execute(
        for_store(con, _DUPLICATE_PUBLICATIONS),
        {"start": window.start, "end": window.end, "topic": topic, "retry_re": RETRY_TOPIC_RE,
         "redriven": json.dumps([PROVENANCE, ""])[:-3]},  # '["seamwatch-redriven-from", ' as stored
    ).df()


# -- findings -----------------------------------------------------------------------------

SAMPLE = 20  # evidence rows kept per finding


def _none(value: object) -> bool:
    return value is None or bool(pd.isna(value))


def record_label(topic: str, partition: object, offset: object, generation: object = None) -> str:
    """'orders/0/7', and for a later generation of a topic created again 'orders/0/7 (topic created
    again 2026-12-05 12:03:20)': the Idempotency page names position-keyed messages alike."""
    label = f"{topic}/{int(partition)}/{int(offset)}"  # type: ignore[call-overload]
    if _none(generation):
        return label
    return f"{label} (topic created again {pd.Timestamp(generation):%Y-%m-%d %H:%M:%S})"


def record_keys(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"topic": r.topic, "partition": int(r.partition), "offset": int(r.offset),
         "processings": int(r.processings), "cause": r.cause,
         "instances": as_list(r.instance_ids), "span_ids": as_list(r.span_ids),
         # of a topic created again: which topic's record (absent for a topic never created again)
         **({} if pd.isna(r.generation) else {"topic_created_again": as_dt(r.generation).isoformat()})}
        for r in df.head(SAMPLE).itertuples(index=False)
    ]


def restarts(df: pd.DataFrame) -> int:
    """Instances that took over a group's redelivered records, less the first: how often it restarted."""
    moved = df[df["cause"] == "restart_rebalance"]
    return max(0, len({i for ids in moved["instance_ids"] for i in as_list(ids)}) - 1)


def publication_groups(dups: pd.DataFrame, kind: str) -> list[tuple[str, pd.DataFrame, list[dict[str, Any]], Any, Any]]:
    """duplicate_publications of one kind ("duplicate" or "collision") per topic: (topic, rows,
    sampled ids with where each copy sits, first seen, last seen)."""
    out = []
    for topic, df in dups[dups["kind"] == kind].groupby("topic", sort=True):
        ids = [
            {"event_id": r.event_id, "locations": [
                {"partition": int(x["partition"]), "offset": int(x["offset"]), "value_hash": x["value_hash"],
                 "event_type": x["event_type"],
                 # of a topic created again: which topic's record (absent for the topic as first created)
                 **({} if _none(x.get("generation")) else {"topic_created_again": as_dt(x["generation"]).isoformat()})}
                for x in r.locations]}
            for r in df.head(SAMPLE).itertuples(index=False)
        ]
        out.append((topic, df, ids, as_dt(df["first_seen"].min()), as_dt(df["last_seen"].max())))
    return out
