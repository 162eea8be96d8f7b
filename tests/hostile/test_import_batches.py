"""Imports commit in batches and resume where a failure stopped them; line length is capped."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import duckdb
import pytest

from collectors.importer import import_file
from collectors.store import Store
from collectors.store.db import Writer


def _records(path: Path, n: int, *, bad_every: int = 0) -> None:
    with path.open("w") as fh:
        for i in range(n):
            if bad_every and i % bad_every == bad_every - 1:
                fh.write('{"topic": "orders", "partition": 0, "offset": 2.5}\n')
            else:
                fh.write(json.dumps({"topic": "orders", "partition": 0, "offset": i, "value": "v"}) + "\n")


def test_a_failed_batch_costs_that_batch_and_a_rerun_neither_duplicates_nor_loses(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "records.jsonl"
    _records(path, 1000, bad_every=10)  # 900 records, 100 bad lines
    appends = 0
    real_append = Writer.append

    def failing_append(self: Writer, name: str, table: object) -> None:
        nonlocal appends
        appends += 1
        if appends == 7:  # the 4th batch (records + ingest_errors per batch) meets a write failure
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")
        real_append(self, name, table)

    monkeypatch.setattr(Writer, "append", failing_append)
    with pytest.raises(Exception, match="No space left on device|no space"):
        import_file(store, path, batch_rows=100)
    committed = store.counts()["records"]
    assert committed == 270  # three batches of 100 lines (90 records each) survived
    monkeypatch.setattr(Writer, "append", real_append)
    again = import_file(store, path, batch_rows=100)
    assert not again.skipped
    counts = store.counts()
    assert counts["records"] == 900 and counts["ingest_errors"] == 100
    distinct = store.cursor().execute('SELECT count(DISTINCT "offset") FROM records').fetchone()[0]
    assert distinct == 900
    assert import_file(store, path, batch_rows=100).skipped  # complete now: a third run changes nothing
    assert store.counts() == counts


def test_error_rows_are_committed_in_batches_not_held_to_the_end(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"topic": "orders", "partition": 0, "offset": 0}\n' + "not json\n" * 2500)
    seen: list[int] = []
    real = Writer.append

    def spy(self: Writer, name: str, table) -> None:  # noqa: ANN001
        if name == "ingest_errors":
            seen.append(table.num_rows)
        real(self, name, table)

    Writer.append = spy  # type: ignore[method-assign]
    try:
        result = import_file(store, path, batch_rows=1000)
    finally:
        Writer.append = real  # type: ignore[method-assign]
    assert result.rejected == 2500 and max(seen) <= 1000 and sum(seen) == 2500


def test_an_over_long_line_is_rejected_without_being_held(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b'{"topic": "orders", "partition": 0, "offset": 1}\n')
        fh.write(b'{"topic": "orders", "partition": 0, "offset": 2, "value": "' + b"x" * (64 << 20) + b'"}\n')
        fh.write(b'{"topic": "orders", "partition": 0, "offset": 3}\n')
    tracemalloc.start()
    try:
        result = import_file(store, path, max_line_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == {"records": 2} and result.rejected == 1
    assert peak < 16 << 20, f"peak {peak >> 20} MiB of Python memory for a 64 MiB line"
    location, reason, excerpt = store.cursor().execute(
        "SELECT location, reason, raw_excerpt FROM ingest_errors").fetchone()
    assert location == "long.jsonl.gz:2" and "longer than 1048576 bytes" in reason
    assert excerpt.startswith('{"topic": "orders"') and len(excerpt) <= 1024


def test_importing_the_same_file_again_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _records(path, 250, bad_every=5)
    first = import_file(store, path, batch_rows=64)
    counts = store.counts()
    assert first.rows == {"records": 200} and first.rejected == 50
    assert import_file(store, path, batch_rows=64).skipped
    assert store.counts() == counts



def test_a_truncated_gzip_file_keeps_every_line_before_the_cut(store: Store, tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(
        json.dumps({"topic": "orders", "partition": 0, "offset": i, "value": "v" * 50}).encode() + b"\n"
        for i in range(20_000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])  # a copy that stopped half way
    result = import_file(store, path)
    kept = result.rows["records"]
    assert 1_000 < kept < 20_000 and result.rejected == 1
    location, reason = store.cursor().execute("SELECT location, reason FROM ingest_errors").fetchone()
    assert location == f"cut.jsonl.gz:{kept + 1}" and reason.startswith("cannot read on:")
    offsets = store.cursor().execute('SELECT min("offset"), max("offset"), count(*) FROM records').fetchone()
    assert offsets == (0, kept - 1, kept)
