"""Numbered schema migrations, applied idempotently; the version is recorded in the file."""

from __future__ import annotations

import re
from importlib import resources

import duckdb

from collectors.errors import SchemaTooNewError, StoreError
from collectors.store.lake import is_lake

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def _load() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("collectors.store.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two migrations share a number: {[name for _, name, _ in found]}")
    return found


MIGRATIONS = _load()
LATEST = MIGRATIONS[-1][0] if MIGRATIONS else 0


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to this database, 0 for a new one."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def _applied(con: duckdb.DuckDBPyConnection) -> set[int]:
    """The migrations recorded in the store. Numbers are handed out to parallel work, so a lower
    one can arrive after a higher one was applied: each is applied once, whatever its number."""
    if not schema_version(con):
        return set()
    return {int(r[0]) for r in con.execute("SELECT DISTINCT version FROM schema_version").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Apply every migration the store lacks, in order, each in its own transaction."""
    if is_lake(path):
        return _migrate_lake(con, path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
    )
    current = schema_version(con)
    if current > LATEST:
        raise SchemaTooNewError(
            f"{path} has schema version {current}, newer than this Seamwatch knows ({LATEST}); upgrade Seamwatch."
        )
    applied = _applied(con)
    for number, name, sql in MIGRATIONS:
        if number in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return schema_version(con)


def _migrate_lake(con: duckdb.DuckDBPyConnection, location: str) -> int:
    """Bring a lake to LATEST: a new one gets the migrated schema at once, an older one each step.

    See collectors/store/lake.py for what DuckLake lacks and how the file's migrations map to it.
    """
    from collectors.store.lake import lake_statement, model_tables, statements

    current = schema_version(con)
    if current > LATEST:
        raise SchemaTooNewError(
            f"{location} has schema version {current}, newer than this Seamwatch knows ({LATEST}); upgrade Seamwatch."
        )
    applied = _applied(con)
    if all(number in applied for number, _, _ in MIGRATIONS):
        return current

    def run(steps: list[str], rows: list[tuple[int, str]]) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            for sql in steps:
                con.execute(sql)
            for number, name in rows:
                con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise

    if current == 0:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()").fetchone()
        if tables and tables[0]:  # as for a file (db._refuse_foreign): never add our tables to another's lake
            raise StoreError(f"{location} is not a usable Seamwatch lake: it holds {tables[0]} tables and no "
                             "Seamwatch schema; it was left untouched.")
        run([ddl for _, ddl in model_tables()], [(n, name) for n, name, _ in MIGRATIONS])
    else:
        for number, name, sql in MIGRATIONS:
            if number not in applied:
                steps = [s for s in (lake_statement(q, migration=name) for q in statements(sql)) if s]
                run(steps, [(number, name)])
    return schema_version(con)
