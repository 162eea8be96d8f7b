"""`seamwatch bench scale`: one machine's file against a lake shared by several processes.

In one run, beside the machine's load average: the tap's aggregate records/s with one and
two collector processes on one lake and with one on a DuckDB file (collectors.bench.scale);
the pages' queries on the lake and on the file at each size of spans (the data of `bench
analyses`, pages that read the raw tables: derivation is not run); how many Parquet files a
one-hour window reads against all; the lake's size on disk and file count before and after
maintenance (collectors.store.lake_maintenance); and each store's size over rounds of an hour
of new spans under ``--retain``. A broker and a PostgreSQL cluster are started when not given
(collectors.bench.services).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from collectors.bench import load_average, services
from collectors.bench import scale as tap_scale
from collectors.bench.kafka import ensure_topic
from collectors.store import Store
from collectors.store.lake import create, data_files, files_read
from collectors.store.lake_maintenance import maintain
from collectors.store.retention import delete_older_than
from dashboard.benchmarks.analyses import _template, fresh_store, generate, measure

# pages whose queries read the raw tables (spans, records, offset polls): no derivation needed
RAW_PAGES = ["consumer status", "dead letters", "idempotency", "event design"]
WINDOW_QUERY = "SELECT count(DISTINCT trace_id) FROM spans WHERE start_time >= ? AND start_time < ?"
RETENTION_BATCHES = 6  # commits per hour of spans in the retention rounds, as a collector's batches


def _size(path: Path) -> int:
    """Bytes on disk of a file (with its WAL) or of every file under a folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    wal = path.with_name(path.name + ".wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class _Lakes:
    """New lakes on one PostgreSQL server, their data under ``folder``."""

    def __init__(self, new_database: Callable[[], str], folder: Path) -> None:
        self.new_database, self.folder = new_database, folder

    def new(self) -> tuple[str, Path]:
        location = "ducklake:postgres:" + self.new_database()
        data = self.folder / f"lake-{uuid.uuid4().hex[:8]}"
        create(location, data)
        return location, data


def tap_rates(lakes: _Lakes, folder: Path, bootstrap: str, topic: str, messages: int) -> Iterator[str]:
    runs = {"file, 1 collector": (str(folder / "tap.duckdb"), 1),
            "lake, 1 collector": (lakes.new()[0], 1),
            "lake, 2 collectors": (lakes.new()[0], 2)}
    rates = {}
    for name, (db, n) in runs.items():
        r = tap_scale.run(db, bootstrap, topic, messages, n, f"bench-scale-{uuid.uuid4().hex[:6]}")
        rates[name] = r["rate"]
        yield (f"tap {name:<22}{r['rate']:>12,.0f} records/s  ({r['seconds']:.2f} s; "
               f"records per collector {r['shares']})")
    yield (f"tap ratios: lake 1 / file {rates['lake, 1 collector'] / rates['file, 1 collector']:.2f}x, "
           f"lake 2 / lake 1 {rates['lake, 2 collectors'] / rates['lake, 1 collector']:.2f}x, "
           f"lake 2 / file {rates['lake, 2 collectors'] / rates['file, 1 collector']:.2f}x")


def _query_times(store: Store) -> dict[tuple[str, str, str], float]:
    return {(page, query, window): s for page, query, window, s in measure(store, RAW_PAGES)}


def queries(lakes: _Lakes, folder: Path, template: Path, size: int) -> Iterator[str]:
    with fresh_store(folder, f"scale-{size}.duckdb") as file_store:
        counts = generate(file_store, spans=size, template=template)
        on_file = _query_times(file_store)
    location, data = lakes.new()
    with Store(location) as lake:
        t = time.perf_counter()
        generate(lake, spans=size, template=template)
        load_s = time.perf_counter() - t
        on_lake = _query_times(lake)
        cur = lake.cursor()
        end = cur.execute("SELECT max(start_time) FROM spans").fetchone()[0]
        first = cur.execute("SELECT min(start_time) FROM spans").fetchone()[0]
        hour = files_read(cur, WINDOW_QUERY, [end - timedelta(hours=1), end + timedelta(microseconds=1)])
        everything = files_read(cur, WINDOW_QUERY, [first, end + timedelta(microseconds=1)])
        # rows small commits left inlined in the catalog go to Parquet first, so both counts are of files
        cur.execute("CALL ducklake_flush_inlined_data('store')").fetchall()
        before_files, before_size = data_files(cur), _size(data)
        t = time.perf_counter()
        done = maintain(lake, keep=timedelta(0))
        maintain_s = time.perf_counter() - t
        after_files, after_size = data_files(cur), _size(data)
        on_lake_after = _query_times(lake)
    file_size = _size(folder / f"scale-{size}.duckdb")
    yield (f"== {counts['spans']:,} spans, {counts['records']:,} records, {counts['group_offsets']:,} offset polls "
           f"(lake loaded in {load_s:.1f} s)")
    yield f"{'page':<16}{'query':<28}{'window':>7}{'file s':>9}{'lake s':>9}{'compacted':>10}{'lake/file':>10}"
    for key, file_s in on_file.items():
        lake_s, compact_s = on_lake[key], on_lake_after[key]
        yield f"{key[0]:<16}{key[1]:<28}{key[2]:>7}{file_s:>9.3f}{lake_s:>9.3f}{compact_s:>10.3f}{compact_s / file_s:>9.2f}x"
    worst_file, worst_lake = max(on_file.values()), max(on_lake_after.values())
    yield f"slowest query: file {worst_file:.3f} s, lake {worst_lake:.3f} s ({worst_lake / worst_file:.2f}x)"
    yield (f"files read by a 1-hour window of spans: {hour} of {everything} "
           f"({hour / max(everything, 1):.0%}; all tables' files: {before_files})")
    yield (f"lake on disk before maintenance: {_mb(before_size)} in {before_files} Parquet files; after "
           f"({maintain_s:.1f} s: {done['merged_files']} merged, {done['rewritten_files']} rewritten, "
           f"{done['removed_files']} removed): {_mb(after_size)} in {after_files} files "
           f"(files {after_files / max(before_files, 1):.2f}x, size {after_size / max(before_size, 1):.2f}x); "
           f"file store {_mb(file_size)} (lake / file {after_size / file_size:.2f}x)")


def _hour_of_spans(store: Store, start: datetime, rows: int) -> None:
    step_us = 3600 * 1_000_000 // rows
    per = rows // RETENTION_BATCHES
    for b in range(RETENTION_BATCHES):
        with store.transaction() as tx:
            tx.cursor.execute(
                "INSERT INTO spans (trace_id, span_id, service, name, start_time, attributes) "
                "SELECT printf('%032x', ? + i), printf('%016x', ? + i), 'svc', 'op', "
                "?::TIMESTAMP + to_microseconds((? + i) * ?), repeat('x', 40) FROM range(?) AS r(i)",
                [int(start.timestamp()) * 1000 + b * per, b * per, start, b * per, step_us, per])


def retention(lakes: _Lakes, folder: Path, retain: timedelta, rounds: int, per_hour: int) -> Iterator[str]:
    location, data = lakes.new()
    file_path = folder / "retain.duckdb"
    t0 = datetime(2026, 1, 1)
    sizes: dict[str, list[str]] = {"file": [], "lake": []}
    files: list[int] = []
    raw: dict[str, list[int]] = {"file": [], "lake": []}
    with Store(file_path) as file_store, Store(location) as lake:
        for r in range(rounds):
            hour = t0 + timedelta(hours=r)
            for store in (file_store, lake):
                _hour_of_spans(store, hour, per_hour)
                delete_older_than(store, hour + timedelta(hours=1) - retain)
            file_store.cursor().execute("CHECKPOINT")
            maintain(lake, keep=timedelta(0))
            raw["file"].append(_size(file_path))
            raw["lake"].append(_size(data))
            sizes["file"].append(_mb(raw["file"][-1]))
            sizes["lake"].append(_mb(raw["lake"][-1]))
            files.append(data_files(lake.cursor()))
    yield (f"size under --retain {retain.total_seconds() / 3600:g} h, {rounds} rounds of an hour of "
           f"{per_hour:,} spans ({RETENTION_BATCHES} commits each), after each round:")
    yield f"  file: {', '.join(sizes['file'])}"
    yield f"  lake: {', '.join(sizes['lake'])}; Parquet files {files}"
    yield (f"  last round against the largest: file {raw['file'][-1] / max(raw['file']):.2f}x, "
           f"lake {raw['lake'][-1] / max(raw['lake']):.2f}x (files {files[-1] / max(max(files), 1):.2f}x); "
           f"lake / file {raw['lake'][-1] / raw['file'][-1]:.2f}x")


def run(*, bootstrap: str | None, postgres: str | None, messages: int, sizes: list[int],
        retain: timedelta, rounds: int) -> Iterator[str]:
    yield f"before: {load_average()}"
    with (tempfile.TemporaryDirectory(prefix="seamwatch-bench-scale-") as tmp_name,
          services.kafka(bootstrap) as bs, services.postgres(postgres) as new_database):
        folder = Path(tmp_name)
        lakes = _Lakes(new_database, folder)  # type: ignore[arg-type]
        t = time.perf_counter()
        topic = ensure_topic(bs, messages)
        yield f"topic {topic}: {messages:,} events (ready in {time.perf_counter() - t:.1f} s)"
        yield from tap_rates(lakes, folder, bs, topic, messages)
        (folder / "template").mkdir()
        template = _template(folder / "template")
        for size in sizes:
            yield from queries(lakes, folder, template, size)
        yield from retention(lakes, folder, retain, rounds, per_hour=max(1000, min(sizes) // 10))
    yield f"after: {load_average()}"
