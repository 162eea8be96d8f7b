"""Derived facts (docs/architecture.md#the-derive-model): segments, sync depth, edges, paired message lag, consumer status,
processings with their side effects.

A trace is derived once it has been quiet for a while (its newest span ended more than
``quiet_for`` ago), in SQL, in one transaction through the store. The derivation is
incremental (spans are scanned once, by ingest time), bounded per call, and idempotent:
a trace that receives late spans is derived again and its old rows replaced. Offset
snapshots get their Burrow status and time lag the same way (collectors.derive.consumer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from collectors.derive import processings, sql
from collectors.derive.consumer import derive_consumer_status
from collectors.derive.watermark import mark_scanned, new_rows
from collectors.store import Store
from collectors.store.lake import is_lake_connection

log = logging.getLogger(__name__)

MAX_TRACES = 20_000  # per call: keeps the write lock (and so ingest) waiting well under a second
PAIR_HORIZON = timedelta(days=1)  # how far back a consumer span's producer span is looked for
SKEW_MARGIN = timedelta(hours=1)  # a producer clock may run this far ahead of the consumer's
DERIVED_TABLES = ("trace_segments", "segment_edges", "trace_facts", "processings", "duplicated_processings", "sends")


@dataclass(frozen=True)
class DeriveResult:
    traces: int
    segments: int
    messages: int
    pending: int  # traces still waiting (not quiet yet, or beyond this call's bound)
    snapshots: int = 0  # offset snapshots judged (consumer_status rows written)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def derive(store: Store, *, quiet_for: timedelta = timedelta(seconds=30), now: datetime | None = None,
           max_traces: int = MAX_TRACES) -> DeriveResult:
    """Derive up to ``max_traces`` quiet, not yet derived traces; returns what was done."""
    now = now or _utcnow()
    with store.transaction() as tx:
        cur = tx.cursor
        snapshots = derive_consumer_status(cur)
        _scan_new_spans(cur)
        quiet_before = None if quiet_for <= timedelta(0) else now - quiet_for
        cur.execute(
            """
            CREATE OR REPLACE TEMP TABLE _batch AS
            SELECT trace_id, first_start, last_end FROM derive_pending
            WHERE ?::TIMESTAMP IS NULL OR last_end < ?::TIMESTAMP
            ORDER BY last_end, trace_id LIMIT ?
            """,
            [quiet_before, quiet_before, max_traces],
        )
        n, t0, t1 = cur.execute("SELECT count(*), min(first_start), max(last_end) FROM _batch").fetchone()
        segments = messages = 0
        if n:
            t0 = _forget_rederived(cur, t0)
            cur.execute(sql.BATCH_SPANS, [t0, t1])
            cur.execute(sql.CLASSIFY)
            cur.execute(sql.WALK)
            cur.execute(sql.LEAVES)
            if cur.execute(processings.HAS_BATCH_SPANS).fetchone()[0]:
                horizon = [t0 - PAIR_HORIZON, t1 + SKEW_MARGIN]
                cur.execute(processings.DELIVERIES, horizon + horizon)
            else:
                cur.execute(processings.SINGLE_DELIVERIES)
            cur.execute(processings.INSERT_PROCESSINGS)
            cur.execute(processings.INSERT_DUPLICATE_DELIVERIES, [now])
            _copy_duplicated_processings(cur)
            cur.execute(processings.INSERT_SENDS)
            segments = _count(cur, sql.INSERT_SEGMENTS)
            cur.execute(sql.INSERT_EDGES)
            cur.execute(sql.INSERT_FACTS, [t0, t1, now])
            cur.execute(sql.MESSAGES)
            cur.execute(sql.PRODUCERS, [t0 - PAIR_HORIZON, t1 + SKEW_MARGIN])
            cur.execute(sql.RECORDS, [t0 - PAIR_HORIZON, t1 + SKEW_MARGIN])
            messages = _count(cur, sql.INSERT_LAG)
            cur.execute("DELETE FROM derive_pending WHERE trace_id IN (SELECT trace_id FROM _batch)")
        for name in ("_batch", "_bs", "_bx", "_walk", "_leaf", "_deliv", "_msg", "_prod", "_rec", "_redo", "_dupk"):
            cur.execute(f"DROP TABLE IF EXISTS {name}")
        pending = cur.execute("SELECT count(*) FROM derive_pending").fetchone()[0]
    if n:
        log.info("derived %d traces (%d segments, %d messages); %d pending", n, segments, messages, pending)
    return DeriveResult(traces=n, segments=segments, messages=messages, pending=pending, snapshots=snapshots)


def derive_all(store: Store, *, quiet_for: timedelta = timedelta(0), now: datetime | None = None,
               progress: object = None, max_traces: int = MAX_TRACES) -> DeriveResult:
    """Derive every trace that is quiet now, call after call (for imports and the demo)."""
    total = DeriveResult(0, 0, 0, 0)
    while True:
        r = derive(store, quiet_for=quiet_for, now=now, max_traces=max_traces)
        total = DeriveResult(total.traces + r.traces, total.segments + r.segments,
                             total.messages + r.messages, r.pending, total.snapshots + r.snapshots)
        if progress is not None:
            progress(r.traces)  # type: ignore[operator]
        if r.traces == 0 and r.snapshots == 0:
            return total


@dataclass(frozen=True)
class Pending:
    """Traces collected but not derived yet, and the start of their oldest span."""

    traces: int
    since: datetime | None
    offset_snapshots: int = 0  # lag-poller snapshots not judged yet (their Burrow status is missing)


def pending(cur) -> Pending:  # type: ignore[no-untyped-def]
    """What a derive pass would still have to do, read without writing (for read-only stores).

    Pending are the traces noted in derive_pending and those of spans ingested after the
    last scan, which no pass has noted yet.
    """
    row = cur.execute(
        """
        WITH scanned AS (SELECT max(scanned_upto) AS upto FROM derive_state WHERE name = 'spans'),
        unscanned AS (
            SELECT trace_id, min(start_time) AS first_start FROM spans
            WHERE ingested_at > coalesce((SELECT upto FROM scanned), '-infinity'::TIMESTAMP) GROUP BY trace_id
        ), everything AS (
            SELECT trace_id, first_start FROM derive_pending UNION ALL SELECT trace_id, first_start FROM unscanned
        )
        SELECT count(DISTINCT trace_id), min(first_start) FROM everything
        """
    ).fetchone()
    snaps = cur.execute(
        """
        SELECT count(*) FROM group_offsets WHERE ingested_at >
            coalesce((SELECT max(scanned_upto) FROM derive_state WHERE name = 'group_offsets'), '-infinity'::TIMESTAMP)
        """
    ).fetchone()
    return Pending(int(row[0]), row[1], int(snaps[0]))


def _scan_new_spans(cur) -> None:  # type: ignore[no-untyped-def]
    """Note the traces of spans ingested since the last scan (ingest time only grows)."""
    scan = new_rows(cur, "spans")
    if scan is None:
        return
    since, upto = scan
    if is_lake_connection(cur):
        # a lake has no key for ON CONFLICT (collectors/store/lake.py); MERGE matches on the trace id
        cur.execute(
            """
            MERGE INTO derive_pending USING (
                SELECT trace_id, min(start_time) AS first_start, max(end_time) AS last_end FROM spans
                WHERE (?::TIMESTAMP IS NULL OR ingested_at > ?::TIMESTAMP) AND ingested_at <= ?
                GROUP BY trace_id
            ) AS n ON derive_pending.trace_id = n.trace_id
            WHEN MATCHED THEN UPDATE SET first_start = least(derive_pending.first_start, n.first_start),
                                         last_end = greatest(derive_pending.last_end, n.last_end)
            WHEN NOT MATCHED THEN INSERT VALUES (n.trace_id, n.first_start, n.last_end)
            """,
            [since, since, upto],
        )
        mark_scanned(cur, "spans", upto)
        return
    cur.execute(
        """
        INSERT INTO derive_pending
        SELECT trace_id, min(start_time), max(end_time) FROM spans
        WHERE (?::TIMESTAMP IS NULL OR ingested_at > ?::TIMESTAMP) AND ingested_at <= ?
        GROUP BY trace_id
        ON CONFLICT (trace_id) DO UPDATE SET
            first_start = least(derive_pending.first_start, excluded.first_start),
            last_end = greatest(derive_pending.last_end, excluded.last_end)
        """,
        [since, since, upto],
    )
    mark_scanned(cur, "spans", upto)


def _forget_rederived(cur, t0: datetime) -> datetime:  # type: ignore[no-untyped-def]
    """Drop the rows of traces derived before that got late spans; returns the batch's true start.

    Rare, so a cheap semi-join on trace_facts decides whether anything must be deleted.
    """
    cur.execute(
        """
        CREATE OR REPLACE TEMP TABLE _redo AS
        SELECT trace_id, start_time FROM trace_facts WHERE trace_id IN (SELECT trace_id FROM _batch)
        """
    )
    n, first = cur.execute("SELECT count(*), min(start_time) FROM _redo").fetchone()
    if not n:
        return t0
    for table in DERIVED_TABLES:
        cur.execute(f'DELETE FROM "{table}" WHERE trace_id IN (SELECT trace_id FROM _redo)')  # noqa: S608
    cur.execute("DELETE FROM message_lag WHERE consumer_trace_id IN (SELECT trace_id FROM _redo)")
    return min(t0, first)


def _copy_duplicated_processings(cur) -> None:  # type: ignore[no-untyped-def]
    """Copy the processings of the deliveries the batch made (or kept) duplicated into duplicated_processings."""
    cur.execute(processings.DUPLICATED_PROCESSINGS)
    n, untimed, first, last = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE start_time IS NULL), min(start_time), max(start_time) FROM _dupk"
    ).fetchone()
    if n:  # a row without a start time (never seen from real exporters) is looked for everywhere
        cur.execute(processings.INSERT_DUPLICATED_PROCESSINGS.format(
            within="true" if untimed else "p.start_time >= ? AND p.start_time <= ?"), [] if untimed else [first, last])


def _count(cur, statement: str) -> int:  # type: ignore[no-untyped-def]
    row = cur.execute(statement).fetchone()
    return int(row[0]) if row else 0
