"""Synchronous call-chain depth (docs/architecture.md#synchronous-call-chain-depth), read from the derived trace_segments table.

Every query takes a window on the segment's start time. Per-trace structure is derived once
(collectors.derive); only :func:`trace_chain` walks spans at page load, for one trace.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from collectors.derive import sql as derive_sql
from collectors.model import KIND_NAMES
from collectors.topology import DEFAULT_LIMITS
from dashboard.analyses.window import Window

DEFAULT_MAX_SYNC_DEPTH = int(DEFAULT_LIMITS["max_sync_depth"])  # docs/architecture.md#the-declared-topology, when no topology says otherwise

_FILTERS = """
    start_time >= $start AND start_time < $end
    AND ($service IS NULL OR entry_service = $service)
    AND ($operation IS NULL OR entry_operation = $operation)
    AND ($cause IS NULL OR cause = $cause)
"""

_SEGMENTS = f"""
SELECT trace_id, segment_span_id, cause, entry_service, entry_operation, consumer_group, topic, depth,
       service_path, path_span_ids, path_latency_us / 1000.0 AS path_latency_ms, fan_out, hops, leaf_calls,
       span_count, error_spans, duration_us / 1000.0 AS duration_ms, start_time
FROM trace_segments
WHERE {_FILTERS} AND depth >= $min_depth
ORDER BY start_time DESC
LIMIT $limit
"""  # noqa: S608 (constant filter text)

_BY_ENTRY = f"""
SELECT entry_service, entry_operation, cause,
       count(*) AS segments,
       quantile_disc(depth, 0.5) AS p50_depth,
       quantile_disc(depth, 0.95) AS p95_depth,
       max(depth) AS max_depth,
       max(fan_out) AS max_fan_out,
       quantile_cont(path_latency_us, 0.95) / 1000.0 AS p95_path_latency_ms,
       quantile_cont(duration_us, 0.95) / 1000.0 AS p95_latency_ms,
       arg_max(trace_id, depth * 1e12 + path_latency_us) AS deepest_trace_id,
       count(*) FILTER (WHERE depth > $limit_depth) AS over_limit
FROM trace_segments
WHERE {_FILTERS}
GROUP BY ALL
ORDER BY max_depth DESC, segments DESC, entry_service, entry_operation
"""  # noqa: S608 (constant filter text)

_HISTOGRAM = f"""
SELECT entry_service, entry_operation, depth, count(*) AS segments
FROM trace_segments
WHERE {_FILTERS}
GROUP BY ALL
ORDER BY entry_service, entry_operation, depth
"""  # noqa: S608 (constant filter text)

_WORST = f"""
SELECT trace_id, segment_span_id, cause, entry_service, entry_operation, depth, service_path,
       array_to_string(service_path, ' → ') AS path, fan_out, path_latency_us / 1000.0 AS path_latency_ms,
       duration_us / 1000.0 AS duration_ms, start_time
FROM trace_segments
WHERE {_FILTERS}
ORDER BY depth DESC, path_latency_us DESC, start_time DESC, trace_id
LIMIT $limit
"""  # noqa: S608 (constant filter text)

# One trace, walked at page load with the very statements the derivation uses.
_CHAIN = f"""
WITH _batch AS (SELECT $trace_id AS trace_id),
_bs AS ({derive_sql.BATCH_SPANS_Q.replace("?", "$t", 1).replace("?", "$t1", 1)}),
_bx AS ({derive_sql.CLASSIFY_Q}),
_walk AS ({derive_sql.WALK_Q}),
seg AS (SELECT span_id AS seg, is_consumer, after_producer, parent_span_id IS NULL AS is_root FROM _bx
        WHERE starts_segment)
SELECT x.span_id, x.parent_span_id, x.service, x.name, x.kind, x.start_time, x.end_time,
       x.duration_us / 1000.0 AS duration_ms,
       date_diff('microsecond', min(x.start_time) OVER (), x.start_time) / 1000.0 AS offset_ms,
       w.seg AS segment_span_id, w.depth, x.is_hop, x.starts_segment,
       CASE WHEN s.is_consumer THEN 'consumer' WHEN s.is_root THEN 'root'
            WHEN s.after_producer THEN 'after_producer' WHEN s.seg IS NOT NULL THEN 'orphan' END AS segment_cause,
       CASE WHEN x.is_hop THEN 'hop'
            WHEN x.is_producer THEN 'send'
            WHEN x.is_consumer THEN 'consume'
            WHEN x.kind = 3 AND x.messaging_system IS NOT NULL THEN 'broker'
            WHEN x.kind = 3 AND NOT EXISTS (SELECT 1 FROM _bx h WHERE h.is_hop AND h.parent_span_id = x.span_id)
                THEN 'leaf'
            WHEN x.kind = 3 THEN 'call'
            ELSE 'local' END AS role,
       x.status_code = 2 AS error, x.http_route, x.db_system, x.destination
FROM _bx x
LEFT JOIN _walk w USING (trace_id, span_id)
LEFT JOIN seg s ON s.seg = x.span_id
ORDER BY x.start_time, x.span_id
"""  # noqa: S608 (constant SQL text)


def _params(window: Window, **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"start": window.start, "end": window.end, "service": None, "operation": None,
                         "cause": None}
    p.update(extra)
    return p


def segments(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
             operation: str | None = None, cause: str | None = None, min_depth: int = 0,
             limit: int = 1000) -> pd.DataFrame:
    """Segments in the window, newest first: depth (SCD), service path, fan-out, summed latency."""
    return con.execute(_SEGMENTS, _params(window, service=service, operation=operation, cause=cause,
                                          min_depth=min_depth, limit=limit)).df()


def depth_by_entry(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
                   cause: str | None = None, limit_depth: int = 3) -> pd.DataFrame:
    """Depth distribution per entry endpoint: count, p50/p95/max depth, fan-out, segments over the limit,
    and the p95 latency (the entry span's duration: how long the caller waited; the summed
    durations along the path count nested spans again and are no latency anyone waited)."""
    return con.execute(_BY_ENTRY, _params(window, service=service, cause=cause, limit_depth=limit_depth)).df()


def depth_histogram(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
                    operation: str | None = None) -> pd.DataFrame:
    """Segments per (entry endpoint, depth), for a histogram."""
    return con.execute(_HISTOGRAM, _params(window, service=service, operation=operation)).df()


def worst_chains(con: duckdb.DuckDBPyConnection, window: Window, *, service: str | None = None,
                 limit: int = 20) -> pd.DataFrame:
    """The deepest (then slowest) segments in the window."""
    return con.execute(_WORST, _params(window, service=service, limit=limit)).df()


def trace_chain(con: duckdb.DuckDBPyConnection, trace_id: str) -> pd.DataFrame:
    """One trace's spans as waterfall rows: segment, hop depth, role (hop, send, consume, leaf…)."""
    row = con.execute("SELECT start_time, end_time FROM trace_facts WHERE trace_id = ?", [trace_id]).fetchone()
    if row is None:  # not derived yet: bound the scan by the trace's own spans
        row = con.execute("SELECT min(start_time), max(end_time) FROM spans WHERE trace_id = ?",
                          [trace_id]).fetchone()
    if row is None or row[0] is None:
        return pd.DataFrame()
    df = con.execute(_CHAIN, {"trace_id": trace_id, "t": row[0], "t1": row[1]}).df()
    df["kind"] = df["kind"].map(lambda k: KIND_NAMES.get(int(k), str(k)) if pd.notna(k) else None)
    return df


_OVER_LIMIT = """
SELECT entry_service, entry_operation, count(*) AS segments, max(depth) AS max_depth,
       min(start_time) AS first_seen, max(start_time) AS last_seen,
       list(trace_id ORDER BY start_time, trace_id) AS trace_ids,
       arg_max(service_path, depth * 1e12 + path_latency_us) AS deepest_path,
       arg_max(trace_id, depth * 1e12 + path_latency_us) AS deepest_trace_id
FROM trace_segments
WHERE start_time >= $start AND start_time < $end AND depth > $limit_depth
GROUP BY ALL
ORDER BY max_depth DESC, segments DESC, entry_service, entry_operation
"""


def chains_over_limit(con: duckdb.DuckDBPyConnection, window: Window, *, limit_depth: int = 3) -> pd.DataFrame:
    """Entry endpoints whose segments went deeper than the limit, with the traces that did."""
    return con.execute(_OVER_LIMIT, {"start": window.start, "end": window.end, "limit_depth": limit_depth}).df()
