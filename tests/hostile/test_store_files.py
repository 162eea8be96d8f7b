"""--db given a file that is not a Seamwatch store: refused in one sentence, left untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from collectors.errors import StoreError
from collectors.store import Store
from collectors.store.db import _connect
from dashboard.cli import cli


def _digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _foreign_duckdb(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices (id INTEGER, amount DECIMAL(10, 2))")
    con.execute("INSERT INTO invoices VALUES (1, 9.99)")
    con.close()


@pytest.mark.parametrize("read_only", [False, True])
def test_another_programs_duckdb_file_is_refused_and_untouched(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "billing.duckdb"
    _foreign_duckdb(path)
    before = _digest(path)
    with pytest.raises(StoreError) as info:
        Store(path, read_only=read_only).open()
    message = str(info.value)
    assert str(path) in message and "not a usable Seamwatch database" in message and "\n" not in message
    assert _digest(path) == before
    con = duckdb.connect(str(path), read_only=True)
    assert [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()] == ["invoices"]
    con.close()


def test_import_into_a_foreign_file_exits_with_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "billing.duckdb"
    _foreign_duckdb(path)
    before = _digest(path)
    data = tmp_path / "r.jsonl"
    data.write_text('{"topic": "t", "partition": 0, "offset": 1}\n')
    result = CliRunner().invoke(cli, ["import", str(data), "--db", str(path)])
    assert result.exit_code != 0
    assert "not a usable Seamwatch database" in result.output and "Traceback" not in result.output
    assert _digest(path) == before


def test_an_empty_duckdb_file_made_elsewhere_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()  # a DuckDB file with no tables at all: nothing to protect
    with Store(path) as s:
        assert "records" in s.counts()


def test_a_sqlite_file_is_refused_without_loading_an_extension(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = _digest(path)
    for read_only in (False, True):
        with pytest.raises(StoreError) as info:
            Store(path, read_only=read_only).open()
        message = str(info.value)
        assert str(path) in message and "SQLite" in message and "\n" not in message
    assert _digest(path) == before


def test_every_connection_turns_extension_autoinstall_and_autoload_off(tmp_path: Path) -> None:
    with Store(tmp_path / "s.duckdb") as s:
        cur = s.cursor()
        settings = dict(cur.execute(
            "SELECT name, value FROM duckdb_settings() "
            "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
        assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    con = _connect(str(tmp_path / "s.duckdb"), read_only=True)
    try:
        # a function of an extension that is not loaded fails instead of fetching the extension
        with pytest.raises(duckdb.Error):
            con.execute("SELECT * FROM sqlite_scan('x.db', 't')")
    finally:
        con.close()
