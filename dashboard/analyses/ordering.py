"""Per-entity ordering (docs/architecture.md#out-of-order-processing): events of one entity that a
group processed in an order other than the one they were produced in.

The entity is the CloudEvents subject (binary `ce_subject` header, or `subject` in a
structured value) when the event has one, else the record key. Order is judged within one
topic, the scope in which Kafka can keep an entity's events in order at all: production order
is the offset within a partition, the record time across partitions; a record counts as
processed when its last processing without error started (its last one if all failed).
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

MARGIN = timedelta(hours=1)

_OVERTAKEN = r"""
WITH pr AS (
    SELECT grp, topic, "partition", "offset", count(*) AS processings,
           count(*) FILTER (WHERE status_code = 2) AS failed,
           coalesce(max(start_time) FILTER (WHERE coalesce(status_code, 0) <> 2), max(start_time)) AS processed_at,
           arg_max(trace_id, start_time) AS trace_id
    FROM processings
    WHERE start_time >= $start AND start_time < $end AND grp IS NOT NULL AND topic IS NOT NULL
      AND "offset" IS NOT NULL
    GROUP BY ALL
), rec AS (
    SELECT topic, "partition", "offset", "key", event_type, coalesce("timestamp", tapped_at) AS produced_at,
           coalesce(nullif(regexp_extract(coalesce(headers, ''), '"ce_subject",\s*"([^"\\]*)"', 1), ''),
                    CASE WHEN envelope = 'cloudevents-structured' AND json_valid(value_excerpt)
                         THEN json_extract_string(value_excerpt, '$.subject') END,
                    "key") AS entity
    FROM records
    WHERE coalesce("timestamp", tapped_at) >= $since AND coalesce("timestamp", tapped_at) < $end
      AND NOT coalesce(is_dead_letter, false) AND topic IN (SELECT DISTINCT topic FROM pr)
    QUALIFY row_number() OVER (PARTITION BY topic, "partition", "offset" ORDER BY tapped_at) = 1
), ev AS (
    SELECT pr.*, rec."key", rec.event_type, rec.produced_at, rec.entity
    FROM pr JOIN rec USING (topic, "partition", "offset")
    WHERE rec.entity IS NOT NULL
), several AS (
    SELECT grp, topic, entity FROM ev GROUP BY ALL HAVING count(*) > 1
), ev2 AS (
    SELECT * FROM ev WHERE (grp, topic, entity) IN (SELECT (grp, topic, entity) FROM several)
)
SELECT a.grp AS consumer_group, a.topic, a.entity,
       a.event_type AS first_type, a."partition" AS first_partition, a."offset" AS first_offset, a."key" AS first_key,
       a.produced_at AS first_produced, a.processed_at AS first_processed,
       b.event_type AS then_type, b."partition" AS then_partition, b."offset" AS then_offset, b."key" AS then_key,
       b.produced_at AS then_produced, b.processed_at AS then_processed, b.trace_id,
       CASE WHEN a."partition" <> b."partition"
            THEN CASE WHEN a."key" IS DISTINCT FROM b."key" THEN 'key changed' ELSE 'different partition' END
            WHEN a.failed > 0 THEN 'retry'
            WHEN a.processings > 1 THEN 'redelivery'
            ELSE 'unknown' END AS cause
FROM ev2 a JOIN ev2 b ON a.grp = b.grp AND a.topic = b.topic AND a.entity = b.entity
WHERE CASE WHEN a."partition" = b."partition" THEN a."offset" < b."offset" ELSE a.produced_at < b.produced_at END
  AND b.processed_at < a.processed_at
ORDER BY b.processed_at
"""


def overtaken(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """One row per pair of one entity's events on one topic where the later-produced one (`then_*`)
    was processed by a group before the earlier one (`first_*`), with the cause when visible:
    key changed / different partition, retry (the earlier one failed first), redelivery."""
    return con.execute(_OVERTAKEN, {"start": window.start, "end": window.end,
                                    "since": window.start - MARGIN}).df()
