"""Processings: the consumer process spans that redeliveries and idempotency count.

A processing is a CONSUMER span of one record by one group, named by the promoted columns
(consumer_group, destination, partition, offset). Instrumentations that emit both a
`receive` and a `process` span for one delivery would look like a duplicate, so `receive`
spans count only for records that have no `process` span. A span without a group is
attributed to its service, so old instrumentations still show up.

Copies on Spring `@RetryableTopic` retry topics (`orders-retry-0`, …) are processings of
their origin record: the tap's record carries `kafka_original-*` headers, which normalize
decoded into the dlt_origin_* columns, and the key folds back onto the origin.

The SQL here is a common table expression other modules of this package put in front of
their own queries; it binds `$start` and `$end` (the window) and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard.analyses.window import Window

# Topics Spring's @RetryableTopic creates next to the origin topic.
RETRY_TOPIC_RE = r"-retry(-\d+)?$"

# CTEs `proc` (one row per processing, keyed on the origin record). Binds $start, $end.
_PROC_COLUMNS = """trace_id, span_id, service, service_instance, client_id,
           coalesce(consumer_group, service) AS grp, destination AS topic, "partition", "offset",
           message_id, start_time, end_time, duration_us, status_code, operation_type"""
_PROC_FILTER = """kind = 5 AND start_time >= $start AND start_time < $end
      AND destination IS NOT NULL AND "offset" IS NOT NULL"""


def _cte() -> str:
    # Each CTE is referenced once, so DuckDB streams it instead of materialising every
    # processing; receive spans (usually none) are the small side of every join.
    return rf"""
proc_main AS (
    SELECT {_PROC_COLUMNS} FROM spans
    WHERE {_PROC_FILTER} AND coalesce(operation_type, 'process') = 'process'
),
proc_recv AS (
    SELECT {_PROC_COLUMNS} FROM spans
    WHERE {_PROC_FILTER} AND operation_type = 'receive'
),
recv_keys AS (
    SELECT DISTINCT coalesce(consumer_group, service) AS grp, destination AS topic, "partition", "offset" FROM spans
    WHERE {_PROC_FILTER} AND operation_type = 'receive'
),
recv_processed AS (  -- receive spans whose delivery also has a process span
    SELECT DISTINCT coalesce(consumer_group, service) AS grp, destination AS topic, "partition", "offset"
    FROM spans
    WHERE {_PROC_FILTER} AND coalesce(operation_type, 'process') = 'process'
      AND (coalesce(consumer_group, service), destination, "partition", "offset")
          IN (SELECT (grp, topic, "partition", "offset") FROM recv_keys)
),
proc_pref AS (
    SELECT * FROM proc_main
    UNION ALL
    SELECT r.* FROM proc_recv r ANTI JOIN recv_processed x USING (grp, topic, "partition", "offset")
),
retry_copies AS (
    SELECT topic, "partition", "offset", dlt_origin_topic, dlt_origin_partition, dlt_origin_offset,
           event_id AS copy_event_id
    FROM records
    WHERE dlt_family = 'spring-retry' AND regexp_matches(topic, '-retry(-\d+)?$')
      AND dlt_origin_topic IS NOT NULL AND dlt_origin_offset IS NOT NULL
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
),
proc AS (
    SELECT p.* EXCLUDE (topic, "partition", "offset"),
           p.topic AS via_topic, p."partition" AS via_partition, p."offset" AS via_offset,
           coalesce(c.dlt_origin_topic, p.topic) AS topic,
           coalesce(c.dlt_origin_partition, p."partition") AS "partition",
           coalesce(c.dlt_origin_offset, p."offset") AS "offset",
           c.dlt_origin_topic IS NOT NULL AS via_retry_topic
    FROM proc_pref p
    LEFT JOIN retry_copies c
      ON c.topic = p.topic AND c."partition" = p."partition" AND c."offset" = p."offset"
)
"""  # noqa: S608 (constant SQL; values are bound)


PROCESSINGS_CTE = _cte()


def over_processings(*body: str, recursive: bool = False) -> str:
    """`WITH <processings CTEs>, <body...>`: the body parts are constants of the calling module,
    never input (more CTEs, then the final SELECT)."""
    head = "WITH RECURSIVE " if recursive else "WITH "
    return head + PROCESSINGS_CTE + ",\n" + "".join(body)  # noqa: S608 (constant SQL; values are bound)


def params(window: Window, **extra: object) -> dict[str, object]:
    """Named parameters for a query built on PROCESSINGS_CTE."""
    return {"start": window.start, "end": window.end, **extra}


def auto_bucket(window: Window, buckets: int = 60) -> timedelta:
    """A round bucket width giving about `buckets` points over the window."""
    span = (window.end - window.start) / buckets
    for width in (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400):
        if timedelta(seconds=width) >= span:
            return timedelta(seconds=width)
    return timedelta(days=max(1, round(span / timedelta(days=1))))


def bucket_us(bucket: timedelta | None, window: Window) -> int:
    return int((bucket or auto_bucket(window)) / timedelta(microseconds=1))


def as_list(value: object) -> list:
    """A list column's cell as a plain list (NULL, NaN and pd.NA become [])."""
    if value is None or value is pd.NA or isinstance(value, float):
        return []
    return list(value)  # type: ignore[call-overload]


def as_dt(value: object) -> datetime | None:
    """A pandas/duckdb timestamp as a plain datetime (None for NaT/None)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
        return pd.Timestamp(value).to_pydatetime()
    except (TypeError, ValueError):
        return None
