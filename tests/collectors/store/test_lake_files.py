"""A lake's files (docs/architecture.md#files-and-history): the big tables written by hour, a
page's window reading only its hours' files, and maintenance keeping the file count flat
under retention."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collectors.store import Store, schema_version
from collectors.store.lake import attach, data_files, files_read, model_tables
from collectors.store.lake_maintenance import maintain
from collectors.store.lease import Lease
from collectors.store.migrate import LATEST, MIGRATIONS
from collectors.store.retention import delete_older_than

lake = pytest.mark.lake
T0 = datetime(2026, 3, 1)
# count(DISTINCT …): a plain count(*) is answered from the catalog's statistics, reading no file
HOUR_QUERY = "SELECT count(DISTINCT trace_id) FROM spans WHERE start_time >= ? AND start_time < ?"


def _spans(store: Store, start: datetime, hours: float, rows: int) -> None:
    """One batch (one commit) of ``rows`` spans spread evenly over ``hours`` from ``start``."""
    step_us = int(hours * 3600e6 / rows)
    with store.transaction() as tx:
        tx.cursor.execute(
            "INSERT INTO spans (trace_id, span_id, service, name, start_time) "
            "SELECT printf('%032x', i), printf('%016x', i), 'svc', 'op', "
            "?::TIMESTAMP + to_microseconds(i * ?) FROM range(?) AS r(i)", [start, step_us, rows])


@lake
def test_a_one_hour_query_reads_only_its_hours_files(new_lake) -> None:
    """One batch over ten hours is ten files, one per hour; an hour's query reads one of them."""
    with Store(new_lake()) as s:
        _spans(s, T0, hours=10, rows=20_000)
        cur = s.cursor()
        assert data_files(cur, "spans") == 10
        hour = T0 + timedelta(hours=4)
        assert files_read(cur, HOUR_QUERY, [hour, hour + timedelta(hours=1)]) == 1
        assert files_read(cur, HOUR_QUERY, [T0, T0 + timedelta(hours=10)]) == 10
        assert cur.execute(HOUR_QUERY, [hour, hour + timedelta(hours=1)]).fetchone()[0] == 2_000


@lake
def test_a_lake_made_before_the_partitions_gets_them_when_opened(new_lake, tmp_path: Path) -> None:
    """A lake at every migration but 013 (made by an older Seamwatch, or one given a higher number
    first) is partitioned when a Store opens it: a migration is applied by number, not by maximum."""
    location = new_lake(create_it=False)
    from collectors.store.db import connect_memory

    con = connect_memory()
    attach(con, location, read_only=False, data_path=tmp_path / "older")
    for _table, ddl in model_tables():
        con.execute(ddl)
    for number, name, _ in MIGRATIONS:
        if number != 13:
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    con.close()
    with Store(location) as s:
        cur = s.cursor()
        assert schema_version(cur) == LATEST
        assert 13 in {r[0] for r in cur.execute("SELECT version FROM schema_version").fetchall()}
        _spans(s, T0, hours=3, rows=3_000)
        assert data_files(cur, "spans") == 3


def test_the_partitions_are_nothing_on_a_file(tmp_path: Path) -> None:
    """On a DuckDB file the migration is recorded and changes nothing."""
    with Store(tmp_path / "s.duckdb") as s:
        cur = s.cursor()
        assert 13 in {r[0] for r in cur.execute("SELECT version FROM schema_version").fetchall()}
        _spans(s, T0, hours=2, rows=100)
        assert cur.execute("SELECT count(*) FROM spans").fetchone()[0] == 100


@lake
def test_maintenance_keeps_the_file_count_flat_under_retention(new_lake) -> None:
    """Rounds of small batches, retention cutting into an hour, maintenance: the live files stay
    one per hour kept, the half-expired hour's file rewritten without its deleted rows."""
    with Store(new_lake()) as s:
        cur = s.cursor()
        counts = []
        for round_ in range(4):
            start = T0 + timedelta(hours=2 * round_)
            for batch in range(4):  # four commits, each a small file in both hours
                _spans(s, start + timedelta(minutes=batch), hours=1.9, rows=2_000)
            before = data_files(cur, "spans")
            # keep the last 3.25 hours: three quarters of the oldest hour kept are deleted
            delete_older_than(s, start + timedelta(hours=2) - timedelta(hours=3.25))
            done = maintain(s, keep=timedelta(0))
            after = data_files(cur, "spans")
            counts.append((before, after))
            assert after <= before
            if round_ >= 2:
                assert done["rewritten_files"] >= 1, done
        assert all(after <= 4 for _, after in counts), counts  # hours kept: 3.25, so at most 4 files
        assert counts[-1][0] > counts[-1][1]
        oldest = cur.execute("SELECT min(start_time) FROM spans").fetchone()[0]
        assert oldest >= T0 + timedelta(hours=8) - timedelta(hours=3.25)


@lake
def test_maintenance_passes_while_collectors_renew_their_leases(new_lake) -> None:
    """Was: the flush of inlined rows took the leases table too, and PostgreSQL refused its delete
    whenever a collector renewed a lease meanwhile ("could not serialize access due to concurrent
    update"), told as the catalog being unreachable: every other pass failed."""
    with Store(new_lake()) as s:
        _spans(s, T0, hours=1, rows=20)
        stop = threading.Event()

        def renew() -> None:
            lease = Lease(s, "renewed-by-the-test", ttl=5)
            while not stop.is_set():
                lease.hold()
                time.sleep(0.02)

        renewer = threading.Thread(target=renew)
        renewer.start()
        try:
            passes = [maintain(s, keep=timedelta(0)) for _ in range(8)]
        finally:
            stop.set()
            renewer.join()
        assert passes[0]["flushed_rows"] > 0  # inlined rows (the schema versions) went to Parquet
        assert s.cursor().execute("SELECT count(*) FROM spans").fetchone()[0] == 20
