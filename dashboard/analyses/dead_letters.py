"""Dead letters (docs/architecture.md#dead-letters): by origin topic, group and error, and whether they recovered.

Normalize already recognised dead letters (topic patterns and the Spring, Spring Cloud
Stream and Kafka Connect header families) into records.is_dead_letter and the dlt_* columns.
Copies on `-retry-N` topics also carry origin headers; they are retries in flight, not dead
letters, and are left out here (redeliveries.py counts them).

A dead letter *recovered* when, after it was dead-lettered, either a process span of the
origin group read the origin record (topic, partition, offset) without error, starting after
the millisecond the dead letter was stamped in (the processing that sent it may start within it)
(``reprocessed``), or the same event (same id, or the same payload) was published again on
the origin topic (``republished``). Only what the window holds is searched.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from dashboard.analyses.processings import RETRY_TOPIC_RE, bucket_us
from dashboard.analyses.window import Window

_DEAD_LETTERS_CTE = r"""
dl AS (
    SELECT topic AS dlt_topic, "partition" AS dlt_partition, "offset" AS dlt_offset,
           coalesce("timestamp", tapped_at) AS dead_lettered_at, dlt_family AS family,
           -- topic-pattern dead letters carry no origin headers: the name tells the origin topic
           coalesce(dlt_origin_topic, nullif(regexp_replace(topic, '(\.DLT|-dlt|\.DLQ|-dlq)$', ''), topic))
               AS origin_topic,
           dlt_origin_partition AS origin_partition, dlt_origin_offset AS origin_offset,
           dlt_origin_group AS "group", dlt_origin_timestamp AS origin_timestamp,
           dlt_exception_class AS error_class, dlt_exception_message AS error_message,
           event_id, event_type, "key", value_hash, value_size, value_excerpt, headers
    FROM records
    WHERE is_dead_letter AND NOT regexp_matches(topic, $retry_re)
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
),
sel AS (
    SELECT * FROM dl
    WHERE ($origin_topic IS NULL OR origin_topic = $origin_topic)
      AND ($grp IS NULL OR "group" = $grp)
      AND ($error IS NULL OR error_class = $error)
),
reprocessed AS (
    SELECT d.dlt_topic, d.dlt_partition, d.dlt_offset, min(s.start_time) AS ts
    FROM sel d
    JOIN spans s ON s.destination = d.origin_topic AND s."partition" = d.origin_partition
                AND s."offset" = d.origin_offset
    WHERE s.kind = 5 AND s.status_code IS DISTINCT FROM 2
      AND s.start_time >= $start AND s.start_time < $end
      -- after the millisecond the dead letter is stamped in (a record's CreateTime has no finer
      -- unit): the processing that dead-lettered it started before it was sent, within that
      -- millisecond when it failed at once, and is no recovery
      AND s.start_time >= d.dead_lettered_at + INTERVAL 1 MILLISECOND
      AND (d."group" IS NULL OR coalesce(s.consumer_group, s.service) = d."group")
    GROUP BY ALL
),
republished AS (
    SELECT dlt_topic, dlt_partition, dlt_offset, min(ts) AS ts FROM (
        SELECT d.dlt_topic, d.dlt_partition, d.dlt_offset, coalesce(r."timestamp", r.tapped_at) AS ts,
               r."partition", r."offset", d.origin_partition, d.origin_offset, d.dead_lettered_at
        FROM sel d JOIN records r ON r.topic = d.origin_topic AND r.event_id = d.event_id
        WHERE coalesce(r."timestamp", r.tapped_at) >= $start AND coalesce(r."timestamp", r.tapped_at) < $end
        UNION ALL
        SELECT d.dlt_topic, d.dlt_partition, d.dlt_offset, coalesce(r."timestamp", r.tapped_at),
               r."partition", r."offset", d.origin_partition, d.origin_offset, d.dead_lettered_at
        FROM sel d JOIN records r ON r.topic = d.origin_topic AND r.value_hash = d.value_hash
        WHERE coalesce(r."timestamp", r.tapped_at) >= $start AND coalesce(r."timestamp", r.tapped_at) < $end
    )
    WHERE ts > dead_lettered_at AND ts < $end
      AND NOT ("partition" IS NOT DISTINCT FROM origin_partition AND "offset" IS NOT DISTINCT FROM origin_offset)
    GROUP BY ALL
)
"""

_DEAD_LETTERS = "WITH " + _DEAD_LETTERS_CTE + r"""
SELECT d.*,
       p.ts IS NOT NULL OR r.ts IS NOT NULL AS recovered,
       CASE WHEN p.ts IS NOT NULL AND (r.ts IS NULL OR p.ts <= r.ts) THEN 'reprocessed'
            WHEN r.ts IS NOT NULL THEN 'republished' END AS recovered_by,
       least(p.ts, r.ts) AS recovered_at
FROM sel d
LEFT JOIN reprocessed p USING (dlt_topic, dlt_partition, dlt_offset)
LEFT JOIN republished r USING (dlt_topic, dlt_partition, dlt_offset)
ORDER BY d.dead_lettered_at, d.dlt_topic, d.dlt_partition, d.dlt_offset
"""  # noqa: S608 (constant SQL; values are bound)


def _params(window: Window, **filters: object) -> dict[str, object]:
    return {"start": window.start, "end": window.end, "retry_re": RETRY_TOPIC_RE,
            "origin_topic": filters.get("origin_topic"), "grp": filters.get("group"),
            "error": filters.get("error")}


def dead_letters(con: duckdb.DuckDBPyConnection, window: Window, *, origin_topic: str | None = None,
                 group: str | None = None, error: str | None = None) -> pd.DataFrame:
    """One row per dead letter: where it came from, why, its payload excerpt and headers, and
    whether the origin record recovered (recovered, recovered_by, recovered_at)."""
    return con.execute(_DEAD_LETTERS, _params(window, origin_topic=origin_topic, group=group, error=error)).df()


def summary(con: duckdb.DuckDBPyConnection, window: Window, **filters: str | None) -> pd.DataFrame:
    """Dead letters per (origin topic, group, error class): count, recovered, first and last."""
    return summarise(dead_letters(con, window, **filters))


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """``dead_letters`` rows per (origin topic, group, error class): count, recovered, first and last."""
    keys = ["origin_topic", "group", "error_class"]
    if df.empty:
        return pd.DataFrame(columns=[*keys, "dead_letters", "recovered", "first_seen", "last_seen", "dlt_topics"])
    return (
        df.groupby(keys, dropna=False, sort=True)
        .agg(dead_letters=("dlt_offset", "size"), recovered=("recovered", "sum"),
             first_seen=("dead_lettered_at", "min"), last_seen=("dead_lettered_at", "max"),
             dlt_topics=("dlt_topic", lambda s: sorted(set(s))))
        .reset_index()
    )


def on_topic(df: pd.DataFrame, topic: str | None) -> pd.DataFrame:
    """The dead letters a topic names: those on it (a dead-letter topic) or from it (an origin topic)."""
    if not topic or df.empty:
        return df
    return df[(df["dlt_topic"] == topic) | (df["origin_topic"] == topic)]


_OVER_TIME = r"""
SELECT bucket, origin_topic, count(*) AS dead_letters FROM (
    SELECT time_bucket(to_microseconds($bucket_us), coalesce("timestamp", tapped_at)) AS bucket, topic,
           coalesce(dlt_origin_topic, nullif(regexp_replace(topic, '(\.DLT|-dlt|\.DLQ|-dlq)$', ''), topic), topic)
               AS origin_topic
    FROM records
    WHERE is_dead_letter AND NOT regexp_matches(topic, $retry_re)
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
)
WHERE $topic IS NULL OR topic = $topic OR origin_topic = $topic
GROUP BY ALL ORDER BY bucket, origin_topic
"""


def over_time(con: duckdb.DuckDBPyConnection, window: Window, *, bucket: timedelta | None = None,
              topic: str | None = None) -> pd.DataFrame:
    """Dead letters per time bucket and origin topic; ``topic`` keeps those on or from it (as ``on_topic``)."""
    return con.execute(_OVER_TIME, {"start": window.start, "end": window.end, "retry_re": RETRY_TOPIC_RE,
                                    "bucket_us": bucket_us(bucket, window), "topic": topic}).df()
