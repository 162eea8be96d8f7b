"""Commit, then publish (docs/architecture.md#commit-then-publish): publications that come before
their service's commit, and publications whose transaction or request then failed.

Read per synchronous segment (one request, or one processing), from the derived send edges
and the DB and SERVER spans of the publishing service in the same segment:

- before commit: a PRODUCER span starts before a DB span of its own service for a write
  (INSERT, UPDATE, ...) or its COMMIT has ended;
- phantom: after the publication started, that service's transaction failed (a ROLLBACK, or
  a write or COMMIT span in error), or its SERVER span ended in error (status error or HTTP
  5xx) while no COMMIT had succeeded before the publication.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pandas as pd

from collectors.derive.processings import WRITE_OPERATIONS
from dashboard.analyses.window import Window

MARGIN = timedelta(hours=1)  # how far around the window a segment's other spans may lie
SAMPLE = 10

_PUBLICATIONS = """
WITH p AS (
    SELECT trace_id, segment_span_id AS seg, span_id, from_service AS service, to_service AS topic,
           start_time AS published_at, entry_service, entry_operation
    FROM segment_edges
    WHERE edge = 'send' AND start_time >= $start AND start_time < $end AND to_service IS NOT NULL
), seg_spans AS (  -- the spans of those segments that can say when a transaction ended: DB and SERVER spans
    SELECT trace_id, segment_span_id AS seg, span_id FROM segment_edges
    WHERE edge IN ('leaf', 'hop') AND start_time >= $since AND start_time < $until
      AND trace_id IN (SELECT trace_id FROM p)
    UNION ALL
    SELECT trace_id, segment_span_id, segment_span_id FROM trace_segments
    WHERE start_time >= $since AND start_time < $until AND trace_id IN (SELECT trace_id FROM p)
), s AS (
    SELECT g.seg, sp.trace_id, sp.span_id, sp.service, sp.kind, sp.name, upper(sp.db_operation) AS op,
           sp.db_system, sp.start_time, sp.end_time, sp.status_code, sp.http_status
    FROM spans sp
    JOIN seg_spans g ON g.trace_id = sp.trace_id AND g.span_id = sp.span_id
    WHERE sp.start_time >= $since AND sp.start_time < $until AND sp.trace_id IN (SELECT trace_id FROM p)
      AND (sp.db_operation IS NOT NULL OR sp.db_system IS NOT NULL OR sp.kind = 2)
    QUALIFY row_number() OVER (PARTITION BY sp.trace_id, sp.span_id ORDER BY sp.ingested_at) = 1
), judged AS (
    SELECT p.*,
        -- the latest-ending write or COMMIT of the publishing service still open when it published
        (SELECT max(d.end_time) FROM s d WHERE d.trace_id = p.trace_id AND d.seg = p.seg AND d.service = p.service
            AND list_contains($commits, d.op) AND d.end_time > p.published_at) AS commit_ended,
        (SELECT arg_max(d.name, d.end_time) FROM s d WHERE d.trace_id = p.trace_id AND d.seg = p.seg
            AND d.service = p.service AND list_contains($commits, d.op) AND d.end_time > p.published_at) AS commit_span,
        -- the first failure of its transaction after the publication began
        (SELECT arg_min(d.name, d.end_time) FROM s d WHERE d.trace_id = p.trace_id AND d.seg = p.seg
            AND d.service = p.service AND d.end_time >= p.published_at
            AND (d.op = 'ROLLBACK' OR (d.status_code = 2 AND list_contains($commits, d.op)))) AS failed_tx,
        (SELECT arg_min(v.name, v.end_time) FROM s v WHERE v.trace_id = p.trace_id AND v.seg = p.seg
            AND v.service = p.service AND v.kind = 2 AND v.start_time <= p.published_at AND v.end_time >= p.published_at
            AND (v.status_code = 2 OR v.http_status >= 500)) AS failed_server,
        EXISTS (SELECT 1 FROM s d WHERE d.trace_id = p.trace_id AND d.seg = p.seg AND d.service = p.service
            AND d.op = 'COMMIT' AND coalesce(d.status_code, 0) <> 2 AND d.end_time <= p.published_at) AS committed_before
    FROM p
)
SELECT trace_id, seg, span_id, service, topic, published_at, entry_service, entry_operation,
       commit_ended, commit_span,
       date_diff('microsecond', published_at, commit_ended) / 1e3 AS before_commit_ms,
       coalesce(failed_tx, CASE WHEN NOT committed_before THEN failed_server END) AS failure
FROM judged
WHERE commit_ended IS NOT NULL OR failed_tx IS NOT NULL OR (failed_server IS NOT NULL AND NOT committed_before)
ORDER BY published_at
"""


def publications(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Publications in the window made before their service's commit ended, or whose
    transaction or request then failed: one row per PRODUCER span (`commit_ended` is set for
    the first kind, `failure` names the failing span for the second)."""
    return con.execute(_PUBLICATIONS, {
        "start": window.start, "end": window.end, "since": window.start - MARGIN, "until": window.end + MARGIN,
        "commits": [*WRITE_OPERATIONS, "COMMIT"]}).df()

