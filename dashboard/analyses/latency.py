"""Request latency over time and the slowest requests, per entry point, from the derived segments.

An entry point is a segment's entry service and operation (docs/architecture.md#synchronous-call-chain-depth):
"web-checkout POST /checkout" for a user's request, "email process shop.orders" for a
consumer. Latency is the entry span's duration, the time the caller (a user, or the
consumer's poll loop) waited; an event's consumers are other segments and do not add to it.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from dashboard.analyses.processings import bucket_us
from dashboard.analyses.window import Window

_FILTERS = """
    start_time >= $start AND start_time < $end
    AND ($service IS NULL OR entry_service = $service)
    AND ($operation IS NULL OR entry_operation = $operation)
    AND ($cause IS NULL OR cause = $cause)
"""

_SERIES = f"""
SELECT time_bucket(to_microseconds($bucket_us), start_time) AS bucket, entry_service, entry_operation,
       count(*) AS requests,
       quantile_cont(duration_us, 0.5) / 1000.0 AS p50_ms,
       quantile_cont(duration_us, 0.95) / 1000.0 AS p95_ms,
       quantile_cont(duration_us, 0.99) / 1000.0 AS p99_ms,
       max(duration_us) / 1000.0 AS max_ms
FROM trace_segments
WHERE {_FILTERS}
GROUP BY ALL
ORDER BY bucket, entry_service, entry_operation
"""  # noqa: S608 (constant filter text)

_ENTRIES = f"""
SELECT entry_service, entry_operation, any_value(cause) AS cause, count(*) AS requests,
       quantile_cont(duration_us, 0.5) / 1000.0 AS p50_ms,
       quantile_cont(duration_us, 0.95) / 1000.0 AS p95_ms,
       quantile_cont(duration_us, 0.99) / 1000.0 AS p99_ms
FROM trace_segments
WHERE {_FILTERS}
GROUP BY entry_service, entry_operation
ORDER BY (any_value(cause) = 'root') DESC, p95_ms DESC, entry_service, entry_operation
"""  # noqa: S608 (constant filter text)

# The slowest requests, then their traces' shape: depth and the services every span names.
# The spans are read for those few traces only, inside the traces' own time range.
_SLOWEST = f"""
WITH slow AS (
    SELECT trace_id, segment_span_id, entry_service, entry_operation, cause, depth AS segment_depth,
           duration_us, start_time
    FROM trace_segments
    WHERE {_FILTERS}
    ORDER BY duration_us DESC, start_time DESC, trace_id
    LIMIT $limit
),
facts AS (
    SELECT f.trace_id, f.max_depth, f.segments, f.span_count, f.error_spans, f.start_time AS t0, f.end_time AS t1,
           f.duration_us AS trace_us
    FROM trace_facts f WHERE f.trace_id IN (SELECT trace_id FROM slow)
),
names AS (
    SELECT s.trace_id, list(DISTINCT s.service ORDER BY s.service) AS services
    FROM spans s
    WHERE s.trace_id IN (SELECT trace_id FROM slow)
      AND s.start_time >= (SELECT min(t0) FROM facts) AND s.start_time <= (SELECT max(t1) FROM facts)
    GROUP BY s.trace_id
)
SELECT slow.trace_id, slow.segment_span_id, slow.entry_service, slow.entry_operation, slow.cause,
       slow.duration_us / 1000.0 AS duration_ms, coalesce(facts.max_depth, slow.segment_depth) AS depth,
       facts.segments, facts.span_count, facts.error_spans, facts.trace_us / 1000.0 AS trace_duration_ms,
       coalesce(names.services, [slow.entry_service]) AS services, slow.start_time
FROM slow LEFT JOIN facts USING (trace_id) LEFT JOIN names USING (trace_id)
ORDER BY slow.duration_us DESC, slow.start_time DESC, slow.trace_id
"""  # noqa: S608 (constant filter text)


def _params(window: Window, **extra: object) -> dict[str, object]:
    p: dict[str, object] = {"start": window.start, "end": window.end, "service": None, "operation": None,
                            "cause": None}
    p.update(extra)
    return p


def entry_points(con: duckdb.DuckDBPyConnection, window: Window, *, cause: str | None = None) -> pd.DataFrame:
    """Entry points in the window with their request count and p50/p95/p99 (ms), user
    requests (root segments) first, slowest p95 first."""
    return con.execute(_ENTRIES, _params(window, cause=cause)).df()


def latency_series(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
                   operation: str | None = None, cause: str | None = None,
                   bucket: timedelta | None = None) -> pd.DataFrame:
    """p50/p95/p99/max of the entry span's duration (ms) per time bucket and entry point."""
    return con.execute(_SERIES, _params(window, service=service, operation=operation, cause=cause,
                                        bucket_us=bucket_us(bucket, window))).df()


def slowest(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
            operation: str | None = None, cause: str | None = None, limit: int = 20) -> pd.DataFrame:
    """The slowest requests in the window, slowest first: the request's duration, its trace's
    depth, the services its spans name, and the segment to open the trace at."""
    return con.execute(_SLOWEST, _params(window, service=service, operation=operation, cause=cause,
                                         limit=limit)).df()
