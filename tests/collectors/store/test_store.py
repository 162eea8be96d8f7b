"""The store: migrations, atomic appends, idempotent re-import, clear errors on bad files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from collectors.errors import StoreError, StoreLockedError
from collectors.importer import import_file
from collectors.model import RECORD_SCHEMA, to_table
from collectors.normalize.records import record_row
from collectors.store import Store, schema_version
from collectors.store.migrate import LATEST, MIGRATIONS

GOLDEN = Path(__file__).parents[1] / "normalize" / "golden"


def _record(offset: int) -> dict:
    return record_row(cluster="c", topic="t", partition=0, offset=offset, key=b"k", value=b'{"id": "e"}',
                      headers=[], timestamp_ms=1_700_000_000_000 + offset, timestamp_type=1,
                      tapped_at_us=0, source="test")


def test_round_trip_keeps_every_column(store: Store) -> None:
    rows = [_record(o) for o in range(3)]
    store.append({"records": to_table(rows, RECORD_SCHEMA)})
    got = store.cursor().execute('SELECT "offset", "key", event_id, value_size FROM records ORDER BY 1').fetchall()
    assert got == [(0, "k", "e", 11), (1, "k", "e", 11), (2, "k", "e", 11)]


def test_migrations_are_recorded_and_idempotent(store_location: str) -> None:
    path = store_location
    with Store(path) as s:
        assert schema_version(s.con) == LATEST
    with Store(path) as s:  # opening again applies nothing twice
        assert s.cursor().execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_a_store_from_before_the_records_rebuild_keeps_its_records(tmp_path: Path) -> None:
    """Migration 008 rebuilds records (zstd excerpts): every row and column survives it."""
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for number, name, sql in MIGRATIONS:
        if number < 8:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    con.register("old_rows", to_table([_record(o) for o in range(3)], RECORD_SCHEMA))
    con.execute("INSERT INTO records SELECT * FROM old_rows")
    before = con.execute('SELECT * FROM records ORDER BY "offset"').fetchall()
    con.close()
    with Store(path) as s:
        assert schema_version(s.con) == LATEST
        assert s.cursor().execute('SELECT * FROM records ORDER BY "offset"').fetchall() == before
        s.cursor().execute("CHECKPOINT")
        compression = s.cursor().execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('records') WHERE column_name = 'value_excerpt' "
            "AND segment_type = 'VARCHAR'").fetchall()
        assert compression == [("ZSTD",)]


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.append("records", to_table([_record(1)], RECORD_SCHEMA))
        tx.set_positions([("c", "t", 0, 2)])
        raise RuntimeError("crash between batch and commit")
    assert store.counts()["records"] == 0
    assert store.positions("c") == {}


def test_positions_commit_with_their_batch(store: Store) -> None:
    store.append({"records": to_table([_record(5)], RECORD_SCHEMA)}, positions=[("c", "t", 0, 6)])
    store.append({}, positions=[("c", "t", 0, 7)])
    assert store.positions("c") == {("t", 0): 7}


def test_positions_are_kept_per_topic_id_and_a_topic_created_again_starts_over(store: Store) -> None:
    from collectors.kafka.resume_gaps import Recreated, choose

    store.append({}, positions=[("c", "t", 0, 30, "old-id"), ("c", "u", 0, 9, None)])
    time.sleep(0.002)  # written later: the id written last is the new topic's
    store.append({}, positions=[("c", "t", 0, 40, "old-id")])
    time.sleep(0.002)
    store.append({}, positions=[("c", "t", 0, 5, "new-id")])
    # the topic's id now is the new one: its own position, never the old topic's further one
    assert choose(store.resume_points("c"), {"t": "new-id", "u": "u-id"})[0] == {("t", 0): 5, ("u", 0): 9}
    # ids not known (the cluster did not say): the id written last
    assert store.positions("c") == {("t", 0): 5, ("u", 0): 9}
    # created once more: no stored position is the newest topic's, it is read from its start
    positions, recreated = choose(store.resume_points("c"), {"t": "newest-id"})
    assert ("t", 0) not in positions and recreated == [Recreated("t", 0, 5)]
    # "u" was stored without an id (before ids were kept): resumed where it stopped, as before
    assert choose(store.resume_points("c"), {"u": "u-id"}) == ({("t", 0): 5, ("u", 0): 9}, [])


def test_importing_the_same_files_twice_keeps_the_counts(store: Store) -> None:
    files = [GOLDEN / "otlp_rich.jsonl", GOLDEN / "records_rich.jsonl"]
    first = [import_file(store, f) for f in files]
    counts = store.counts()
    second = [import_file(store, f) for f in files]
    assert all(not r.skipped for r in first) and all(r.skipped for r in second)
    assert store.counts() == counts
    assert counts["spans"] == 7 and counts["records"] == 12


def test_a_file_that_is_not_a_database_gives_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "notes.duckdb"
    bad.write_text("this is not a database\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(bad).open()
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_read_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "none.duckdb", read_only=True).open()


def test_file_held_by_another_process_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from collectors.store import Store
            s = Store({str(path)!r}).open()
            print("open", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        for read_only in (True, False):
            with pytest.raises(StoreLockedError) as info:
                Store(path, read_only=read_only).open()
            assert info.value.pid == holder.pid
            assert f"process {holder.pid}" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
