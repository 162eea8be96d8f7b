"""Processings: the consumer process spans that redeliveries and idempotency count.

A processing is a CONSUMER span of one record by one group, named by the promoted columns
(consumer_group, destination, partition, offset). Instrumentations that emit both a
`receive` and a `process` span for one delivery would look like a duplicate, so `receive`
spans count only for records that have no `process` span. A span without a group is
attributed to its service, so old instrumentations still show up.

Copies on Spring `@RetryableTopic` retry topics (`orders-retry-0`, …) are processings of
their origin record: the tap's record carries `kafka_original-*` headers, which normalize
decoded into the dlt_origin_* columns, and the key folds back onto the origin.

The spans are read from the derived `processings` table (collectors.derive.processings:
one row per consumer span of a record, with the side effects under it), so pages never
scan the spans; the two rules above run at query time over the few candidate rows only.

The SQL here is a common table expression other modules of this package put in front of
their own queries; it binds `$start` and `$end` (the window) and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

# Topics Spring's @RetryableTopic creates next to the origin topic.
RETRY_TOPIC_RE = r"-retry(-\d+)?$"

# CTEs ending in `proc` (one row per processing, keyed on the origin record; `candidate` is
# false for a processing that is surely its delivery's only one, so redeliveries are among
# the candidates). Binds $start, $end.
_PROC_COLUMNS = """trace_id, span_id, service, service_instance, client_id, grp, topic, "partition", "offset",
           message_id, start_time, end_time, duration_us, status_code, operation_type, delivery_attempt,
           events, db_writes, http_calls, effects"""

# The topic generations (migration 018); a store from before it is read as one generation each.
GENERATIONS = "topic_generations"
_NO_GENERATIONS = "(SELECT NULL::VARCHAR AS topic, NULL::VARCHAR AS topic_id, NULL::TIMESTAMP AS since WHERE false)"

# Each topic created again: its generations' spans of time, [since, until), the first from
# -infinity, the last to infinity (few rows, usually none). A topic id's earliest row is its since.
GENERATION_SPANS = f"""
    SELECT topic, since, lead(since, 1, 'infinity'::TIMESTAMP) OVER (PARTITION BY topic ORDER BY since) AS until
    FROM (SELECT topic, min(since) AS since FROM {GENERATIONS} GROUP BY topic, topic_id
          UNION ALL SELECT DISTINCT topic, '-infinity'::TIMESTAMP FROM {GENERATIONS})
"""  # noqa: S608 (a constant table name)

# Positions a query wants looked at closely besides the derived duplicate deliveries (none).
NO_POSITIONS = """SELECT NULL::VARCHAR AS topic, NULL::INTEGER AS "partition", NULL::BIGINT AS "offset" WHERE false"""


_ALL = "SELECT * FROM proc_all WHERE NOT candidate UNION ALL SELECT * FROM cand_pref"
_CANDIDATES_ONLY = "SELECT * FROM cand_pref"


# The candidates: the rows of the duplicate deliveries are copied at derive time
# (duplicated_processings holds exactly the processings rows whose delivery hash is in
# duplicate_deliveries), so only the other close-look positions (retry copies, their origins,
# the caller's) are looked up in `processings`.
_CAND_DERIVED = f"""SELECT {_PROC_COLUMNS}, true AS candidate FROM duplicated_processings
    WHERE start_time >= $start AND start_time < $end
    UNION ALL
    SELECT {_PROC_COLUMNS}, true AS candidate FROM processings
    WHERE start_time >= $start AND start_time < $end
      AND hash(topic, "partition", "offset") IN (SELECT hp FROM close_look WHERE hp IS NOT NULL)
      AND hash(grp, topic, "partition", "offset") NOT IN (SELECT h FROM close_look WHERE h IS NOT NULL)"""  # noqa: S608


def _cte(also: str = NO_POSITIONS, candidates_only: bool = False) -> str:
    # The derived processings (collectors.derive) hold every span that may count. Almost every
    # delivery has one row, and a delivery with one row is one processing whatever the window
    # (a lone receive span counts; a lone -retry-N copy folds onto its origin, once). So only
    # the candidates are run through the receive/process and retry-topic rules: deliveries
    # with more than one row ever (duplicate_deliveries), retry copies and their origins, and
    # the caller's `also_positions`. Hash lookups may take a few extra rows, never miss one.
    return rf"""
retry_copies AS (
    SELECT topic, "partition", "offset", dlt_origin_topic, dlt_origin_partition, dlt_origin_offset,
           event_id AS copy_event_id
    FROM records
    WHERE dlt_family = 'spring-retry' AND regexp_matches(topic, '-retry(-\d+)?$')
      AND dlt_origin_topic IS NOT NULL AND dlt_origin_offset IS NOT NULL
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
),
also_positions AS ({also}),
close_look AS (
    SELECT hash(grp, topic, "partition", "offset") AS h, NULL::UBIGINT AS hp FROM duplicate_deliveries
    UNION ALL SELECT NULL, hash(topic, "partition", "offset") FROM retry_copies
    UNION ALL SELECT NULL, hash(dlt_origin_topic, dlt_origin_partition, dlt_origin_offset) FROM retry_copies
    UNION ALL SELECT NULL, hash(topic, "partition", "offset") FROM also_positions
),
proc_all AS NOT MATERIALIZED (  -- every processing row of the window, flagged: streamed, never held
    SELECT {_PROC_COLUMNS},
           hash(grp, topic, "partition", "offset") IN (SELECT h FROM close_look WHERE h IS NOT NULL)
           OR hash(topic, "partition", "offset") IN (SELECT hp FROM close_look WHERE hp IS NOT NULL) AS candidate
    FROM processings
    WHERE start_time >= $start AND start_time < $end
),
cand AS MATERIALIZED (  -- few rows
    {_CAND_DERIVED if candidates_only else "SELECT * FROM proc_all WHERE candidate"}
),
recv_keys AS (
    SELECT DISTINCT grp, topic, "partition", "offset" FROM cand WHERE operation_type = 'receive'
),
recv_processed AS (  -- receive spans whose delivery also has a process span
    SELECT DISTINCT grp, topic, "partition", "offset" FROM cand
    WHERE coalesce(operation_type, 'process') = 'process'
      AND (grp, topic, "partition", "offset") IN (SELECT (grp, topic, "partition", "offset") FROM recv_keys)
),
cand_pref AS (
    SELECT * FROM cand WHERE coalesce(operation_type, 'process') = 'process'
    UNION ALL
    SELECT r.* FROM cand r ANTI JOIN recv_processed x USING (grp, topic, "partition", "offset")
    WHERE r.operation_type = 'receive'
),
proc_pref AS ({_CANDIDATES_ONLY if candidates_only else _ALL}),
gens AS ({GENERATION_SPANS}),
proc_folded AS NOT MATERIALIZED (
    SELECT p.* EXCLUDE (topic, "partition", "offset"),
           p.topic AS via_topic, p."partition" AS via_partition, p."offset" AS via_offset,
           coalesce(c.dlt_origin_topic, p.topic) AS topic,
           coalesce(c.dlt_origin_partition, p."partition") AS "partition",
           coalesce(c.dlt_origin_offset, p."offset") AS "offset",
           c.dlt_origin_topic IS NOT NULL AS via_retry_topic
    FROM proc_pref p
    LEFT JOIN retry_copies c
      ON c.topic = p.topic AND c."partition" = p."partition" AND c."offset" = p."offset"
),
proc AS (  -- [gen, gen_until): the time of the record's topic generation (docs/architecture.md#topics-created-again)
    SELECT p.*, coalesce(g.since, '-infinity'::TIMESTAMP) AS gen, coalesce(g.until, 'infinity'::TIMESTAMP) AS gen_until
    FROM proc_folded p
    LEFT JOIN gens g ON g.topic = p.topic AND p.start_time >= g.since AND p.start_time < g.until
)
"""  # noqa: S608 (constant SQL; values are bound)


PROCESSINGS_CTE = _cte()


def over_processings(*body: str, recursive: bool = False, also: str | None = None,
                     candidates_only: bool = False) -> str:
    """`WITH <processings CTEs>, <body...>`: the body parts are constants of the calling module,
    never input (more CTEs, then the final SELECT). `also` is a constant SELECT of (topic,
    partition, offset) positions whose processings must be looked at closely too;
    `candidates_only` leaves the others out of `proc` (for queries about duplicates only)."""
    head = "WITH RECURSIVE " if recursive else "WITH "
    cte = PROCESSINGS_CTE if also is None and not candidates_only else _cte(also or NO_POSITIONS, candidates_only)
    return head + cte + ",\n" + "".join(body)  # noqa: S608 (constant SQL; values are bound)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the store holds table ``name``: a file from before the migration that adds it, read as
    it is (a reader never upgrades it), does not."""
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                       "AND table_catalog IN (current_database(), 'temp')", [name]).fetchall()[0][0] > 0


def for_store(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """``query`` as this store can run it: a file from before migration 018 has no topic
    generations, so every topic is one generation there."""
    return query if has_table(con, GENERATIONS) else query.replace(f"FROM {GENERATIONS}", f"FROM {_NO_GENERATIONS}")


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
