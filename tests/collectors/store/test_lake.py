"""The lake as a store (docs/architecture.md#the-lake): created once, the file's schema, clear refusals.

The tests that run on every kind of store take the ``store`` fixture (tests/conftest.py); these
are about what only a lake has: its creation, its catalog, more than one process on it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collectors.errors import StoreError
from collectors.model import RECORD_SCHEMA, to_table
from collectors.normalize.records import record_row
from collectors.store import Store, schema_version
from collectors.store.lake import create, model_tables
from collectors.store.migrate import LATEST, MIGRATIONS
from tests.conftest import older_lake

lake = pytest.mark.lake
ROOT = Path(__file__).resolve().parents[3]


def _record(offset: int, topic: str = "t") -> dict:
    return record_row(cluster="c", topic=topic, partition=0, offset=offset, key=b"k", value=b'{"id": "e"}',
                      headers=[], timestamp_ms=1_700_000_000_000 + offset, timestamp_type=1,
                      tapped_at_us=0, source="test")


def _columns(store: Store) -> dict[str, list[tuple[str, str, bool]]]:
    rows = store.cursor().execute(
        "SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
        "WHERE database_name = 'store' ORDER BY table_name, column_index").fetchall()
    out: dict[str, list[tuple[str, str, bool]]] = {}
    for table, column, kind, nullable in rows:
        out.setdefault(table, []).append((column, kind, nullable))
    return out


@lake
def test_a_new_lake_has_the_files_tables_column_for_column(new_lake, tmp_path: Path) -> None:
    with Store(tmp_path / "f.duckdb") as file_store, Store(new_lake()) as lake_store:
        assert _columns(lake_store) == _columns(file_store)
        assert schema_version(lake_store.con) == LATEST


@lake
def test_a_lake_is_created_once(new_lake, tmp_path: Path) -> None:
    location = new_lake()
    with pytest.raises(StoreError, match="a lake exists already"):
        create(location, tmp_path / "again")


@lake
def test_a_lake_not_created_yet_is_refused_with_the_command_that_creates_it(new_lake) -> None:
    location = new_lake(create_it=False)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="seamwatch lake create"):
            Store(location, read_only=read_only).open()


@lake
def test_an_unreachable_catalog_is_one_sentence(postgres) -> None:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    location = f"ducklake:postgres:dbname=x host=127.0.0.1 port={port} user=seamwatch"
    with pytest.raises(StoreError) as err:
        Store(location).open()
    assert "\n" not in str(err.value) and "cannot open the lake" in str(err.value)


@lake
def test_an_older_lake_is_migrated_step_by_step(new_lake, tmp_path: Path) -> None:
    """A lake made by an older Seamwatch gets the newer migrations, keys and all stripped to what DuckLake has."""
    location = new_lake(create_it=False)
    older = MIGRATIONS[-2][0]
    older_lake(location, tmp_path / "older", older).close()
    with Store(location) as s:
        assert schema_version(s.con) == LATEST
        names = {r[0] for r in s.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'").fetchall()}
        assert {t for t, _ in model_tables()} <= names


@lake
def test_a_reader_in_another_process_sees_what_a_writer_commits(new_lake) -> None:
    """Dashboards apart from collectors: a second process opens the lake read-only while it is written."""
    location = new_lake()
    reader = textwrap.dedent(f"""
        import sys, time
        from collectors.store import Store
        with Store({location!r}, read_only=True) as s:
            print("open", flush=True)
            want = int(sys.stdin.readline())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                n = s.cursor().execute("SELECT count(*) FROM records").fetchone()[0]
                if n == want:
                    print("saw", n, flush=True)
                    break
                time.sleep(0.1)
    """)
    with Store(location) as writer:
        proc = subprocess.Popen([sys.executable, "-c", reader], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, cwd=ROOT)
        try:
            assert proc.stdout.readline().strip() == "open"
            writer.append({"records": to_table([_record(o) for o in range(5)], RECORD_SCHEMA)},
                          positions=[("c", "t", 0, 5)])
            proc.stdin.write("5\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "saw 5"
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(importlib.util.find_spec("duckdb_extension_ducklake") is not None,
                    reason="the lake extra is installed in this environment")
def test_without_the_lake_extra_a_lake_is_refused_in_one_sentence() -> None:
    with pytest.raises(StoreError) as err:
        Store("ducklake:postgres:dbname=seamwatch host=127.0.0.1").open()
    assert "pip install 'seamwatch[lake]'" in str(err.value) and "\n" not in str(err.value)


def test_a_lake_that_is_not_postgres_is_refused_in_one_sentence() -> None:
    with pytest.raises(StoreError, match="ducklake:postgres:<connection string>"):
        Store("ducklake:sqlite:lake.db").open()


@lake
def test_the_cli_creates_a_lake_once_then_imports_and_audits_it(postgres, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dashboard.cli import cli

    location = "ducklake:postgres:" + postgres.createdb("cli_lake")
    runner = CliRunner()
    made = runner.invoke(cli, ["lake", "create", "--db", location, "--data-path", str(tmp_path / "files")])
    assert made.exit_code == 0, made.output
    again = runner.invoke(cli, ["lake", "create", "--db", location, "--data-path", str(tmp_path / "files")])
    assert again.exit_code == 2 and "a lake exists already" in again.output
    golden = Path(__file__).parents[1] / "normalize" / "golden"
    imported = runner.invoke(cli, ["import", str(golden / "otlp_rich.jsonl"), str(golden / "records_rich.jsonl"),
                                   "--db", location])
    assert imported.exit_code == 0, imported.output
    audited = runner.invoke(cli, ["findings", "--db", location, "--json"])
    assert audited.exit_code == 0, audited.output
    with Store(location, read_only=True) as s:
        assert s.counts()["spans"] == 7 and s.counts()["records"] == 12
    assert list((tmp_path / "files").rglob("*.parquet")), "the rows went to Parquet files under the data path"


@lake
def test_two_writer_processes_append_batches_with_their_positions_at_once(new_lake) -> None:
    """Two collectors on one lake: every batch commits, with its positions, while the other writes."""
    location = new_lake()
    writer = textwrap.dedent("""
        import sys
        from collectors.model import RECORD_SCHEMA, to_table
        from collectors.normalize.records import record_row
        from collectors.store import Store
        location, partition = sys.argv[1], int(sys.argv[2])
        with Store(location) as s:
            for batch in range(30):
                rows = [record_row(cluster="c", topic="t", partition=partition, offset=o, key=b"k", value=b"{}",
                                   headers=[], timestamp_ms=1_700_000_000_000 + o, timestamp_type=1,
                                   tapped_at_us=0, source="test") for o in range(batch * 50, batch * 50 + 50)]
                s.append({"records": to_table(rows, RECORD_SCHEMA)}, positions=[("c", "t", partition, batch * 50 + 50)])
        print("done", flush=True)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", writer, location, str(p)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for p in (0, 1)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and out.strip() == "done", err[-2000:]
    with Store(location, read_only=True) as s:
        got = s.cursor().execute(
            'SELECT "partition", count(*), count(DISTINCT "offset"), max("offset") FROM records GROUP BY 1 ORDER BY 1'
        ).fetchall()
        assert got == [(0, 1500, 1500, 1499), (1, 1500, 1500, 1499)]
        assert s.positions("c") == {("t", 0): 1500, ("t", 1): 1500}


@lake
def test_maintenance_merges_small_files_and_deletes_what_retention_and_merging_left(new_lake, tmp_path: Path) -> None:
    from datetime import timedelta

    from collectors.store.lake_maintenance import LakeMaintenance
    from collectors.store.retention import delete_older_than

    location = new_lake()
    with Store(location) as s:
        for batch in range(20):  # one snapshot and one small file per batch, as a collector writes them
            s.append({"records": to_table([_record(o) for o in range(batch * 200, batch * 200 + 200)], RECORD_SCHEMA)},
                     positions=[("c", "t", 0, batch * 200 + 200)])
        cur = s.cursor()
        files = lambda: cur.execute("SELECT count(*) FROM ducklake_list_files('store', 'records')").fetchone()[0]  # noqa: E731
        on_disk = lambda: len(list(tmp_path.rglob("*.parquet")))  # noqa: E731
        assert files() >= 20
        before = on_disk()
        # retention deletes the first half of the rows (records of 1970 + offset ms)
        cutoff = cur.execute("SELECT min(\"timestamp\") + INTERVAL 2 SECOND FROM records").fetchone()[0]
        delete_older_than(s, cutoff)
        kept = cur.execute("SELECT count(*), min(\"offset\"), max(\"offset\") FROM records").fetchone()
        maintenance = LakeMaintenance(s, keep=timedelta(0))
        done = maintenance.run_once()
        # the first 10 files hold only deleted rows: they go; the other 10 are merged into one
        assert done["merged_files"] == 10 and done["expired_snapshots"] >= 20 and done["removed_files"] >= 20, done
        assert files() <= 2 and on_disk() < before
        assert cur.execute("SELECT count(*), min(\"offset\"), max(\"offset\") FROM records").fetchone() == kept
        assert s.positions("c") == {("t", 0): 4000}
        assert "merged" in maintenance.status().describe()


@lake
def test_a_catalog_restart_or_outage_loses_and_repeats_no_batch(new_lake, postgres) -> None:
    """PostgreSQL restarted: the next batch commits on a new connection. PostgreSQL down: the
    batch fails whole (a collector keeps it and retries), and commits once PostgreSQL is back."""
    import duckdb

    location = new_lake()

    def batch(first: int) -> dict:
        return {"records": to_table([_record(o) for o in range(first, first + 5)], RECORD_SCHEMA)}

    with Store(location) as s:
        s.append(batch(0), positions=[("c", "t", 0, 5)])
        postgres.restart()
        s.append(batch(5), positions=[("c", "t", 0, 10)])
        postgres.stop()
        try:
            with pytest.raises(duckdb.Error):
                s.append(batch(10), positions=[("c", "t", 0, 15)])
        finally:
            postgres.start()
        s.append(batch(10), positions=[("c", "t", 0, 15)])
        offsets = [r[0] for r in s.cursor().execute('SELECT "offset" FROM records ORDER BY 1').fetchall()]
        assert offsets == list(range(15))
        assert s.positions("c") == {("t", 0): 15}


@lake
def test_a_lake_with_other_tables_and_no_seamwatch_schema_is_left_untouched(new_lake, tmp_path: Path) -> None:
    from collectors.store.db import connect_memory
    from collectors.store.lake import attach

    location = new_lake(create_it=False)
    con = connect_memory()
    attach(con, location, read_only=False, data_path=tmp_path / "theirs")
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a usable Seamwatch lake"):
        Store(location).open()
    con = connect_memory()
    attach(con, location, read_only=True)
    assert con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store'").fetchall() == [
        ("invoices",)]
    con.close()
