"""What a primary key costs on Arrow ingest: the measurement behind the store's exactly-once design."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from collectors.model import RECORD_SCHEMA, SPAN_SCHEMA
from collectors.store.migrate import MIGRATIONS

_KEYS = {
    "records": '"cluster", "topic", "partition", "offset"',
    "spans": "trace_id, span_id",
}


def _records(n: int, start: int) -> pa.Table:
    idx = pa.array(range(start, start + n), pa.int64())
    cols = {name: pa.nulls(n, RECORD_SCHEMA.field(name).type) for name in RECORD_SCHEMA.names}
    cols.update(
        cluster=pa.array(["bench"] * n), topic=pa.array([f"orders.v{i % 8}" for i in range(start, start + n)]),
        partition=pa.array([i % 12 for i in range(start, start + n)], pa.int32()), offset=idx,
        timestamp=pa.array(range(start, start + n), pa.int64()).cast(pa.timestamp("us")),
        value_size=pa.array([300] * n, pa.int32()), value_excerpt=pa.array(['{"orderId": 1}'] * n),
        event_id=pa.array([f"e-{i}" for i in range(start, start + n)]),
    )
    return pa.table(cols, schema=RECORD_SCHEMA)


def _spans(n: int, start: int) -> pa.Table:
    cols = {name: pa.nulls(n, SPAN_SCHEMA.field(name).type) for name in SPAN_SCHEMA.names}
    cols.update(
        trace_id=pa.array([f"{i // 8:032x}" for i in range(start, start + n)]),
        span_id=pa.array([f"{i + 1:016x}" for i in range(start, start + n)]),
        service=pa.array(["orders-api"] * n), name=pa.array(["POST /orders"] * n),
        kind=pa.array([2] * n, pa.int8()),
        start_time=pa.array(range(start, start + n), pa.int64()).cast(pa.timestamp("us")),
        attributes=pa.array(['{"http.route":"/orders"}'] * n),
    )
    return pa.table(cols, schema=SPAN_SCHEMA)


def _ingest(path: Path, table: str, rows: int, batch: int, keyed: bool) -> float:
    con = duckdb.connect(str(path))
    con.execute(MIGRATIONS[0][2])
    if keyed:
        con.execute(f'ALTER TABLE "{table}" ADD PRIMARY KEY ({_KEYS[table]})')
    make = _records if table == "records" else _spans
    batches = [make(min(batch, rows - s), s) for s in range(0, rows, batch)]
    t0 = time.perf_counter()
    for b in batches:
        con.register("_b", b)
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _b')  # noqa: S608 (fixed names)
        con.unregister("_b")
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - t0
    con.close()
    return rows / elapsed


def run(*, rows: int, batch: int) -> Iterator[str]:
    yield f"Arrow ingest, {rows:,} rows in batches of {batch:,}, rows/s (higher is better)"
    yield f"{'table':<10}{'no key':>14}{'primary key':>14}{'key/no key':>12}"
    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-") as tmp:
        for table in ("records", "spans"):
            plain = _ingest(Path(tmp) / f"{table}-plain.duckdb", table, rows, batch, keyed=False)
            keyed = _ingest(Path(tmp) / f"{table}-key.duckdb", table, rows, batch, keyed=True)
            yield f"{table:<10}{plain:>14,.0f}{keyed:>14,.0f}{keyed / plain:>12.2f}"
