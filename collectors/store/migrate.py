"""Numbered schema migrations, applied idempotently; the version is recorded in the file."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from importlib import resources

import duckdb

from collectors.errors import SchemaTooNewError, StoreError
from collectors.store import faults
from collectors.store.lake import is_lake
from collectors.store.upgrade_progress import Upgrade

log = logging.getLogger(__name__)

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


def _upgrade(con: duckdb.DuckDBPyConnection, location: str, current: int, applied: set[int]) -> Upgrade | None:
    """The progress lines of an older store's upgrade (upgrade_progress.py); None for a new store."""
    todo = [name for number, name, _ in MIGRATIONS if number not in applied]
    if not current or not todo:
        return None
    upgrade = Upgrade(con, location, current, LATEST, todo)
    upgrade.begin()
    return upgrade


def _step(upgrade: Upgrade | None, migration: str, what: str) -> contextlib.AbstractContextManager[None]:
    return upgrade.step(migration, what) if upgrade else contextlib.nullcontext()


def _what(query: str) -> str:
    """'INSERT INTO records_zstd': what a statement does, for a progress line."""
    return " ".join(_COMMENTS.sub("", query).split()[:3])


_COMMENTS = re.compile(r"--[^\n]*")


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Apply every migration the store lacks, in order, each in its own transaction.

    An older store's upgrade says on stderr what it runs and, for a long step, how far it got.
    """
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
    from collectors.store.lake import file_statements

    applied = _applied(con)
    upgrade = _upgrade(con, path, current, applied)
    for number, name, sql in MIGRATIONS:
        if number in applied:
            continue
        started = time.monotonic()
        con.execute("BEGIN TRANSACTION")
        try:
            queries = file_statements(sql)
            for i, query in enumerate(queries, 1):
                with _step(upgrade, name, f"statement {i} of {len(queries)} ({_what(query)})"):
                    con.execute(query)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name]
            )
            with _step(upgrade, name, "committing"):
                con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        if upgrade:
            upgrade.done(name, time.monotonic() - started)
    if upgrade:
        upgrade.end()
    return schema_version(con)


def _migrate_lake(con: duckdb.DuckDBPyConnection, location: str) -> int:
    """Bring a lake to LATEST: a new one gets the migrated schema at once, an older one each step.

    See collectors/store/lake.py for what DuckLake lacks and how the file's migrations map to it.
    """
    from collectors.store.lake import lake_only_statements, lake_statement, model_tables, statements

    current = schema_version(con)
    if current > LATEST:
        raise SchemaTooNewError(
            f"{location} has schema version {current}, newer than this Seamwatch knows ({LATEST}); upgrade Seamwatch."
        )
    applied = _applied(con)
    if all(number in applied for number, _, _ in MIGRATIONS):
        return current

    upgrade = _upgrade(con, location, current, applied)

    def run(steps: list[str], rows: list[tuple[int, str]]) -> None:
        """One step in one transaction, unless another process has made it already.

        Two processes upgrading one lake at once both run the step; DuckLake fails the second
        commit (a conflict, or a table that exists already): that process reads the version
        again and carries on from there.
        """
        def made() -> bool:  # by number, not by the highest version: a lake may lack one in the middle
            if schema_version(con) == 0:  # a new lake: no schema_version table yet
                return False
            have = {r[0] for r in con.execute("SELECT version FROM schema_version").fetchall()}
            return all(number in have for number, _ in rows)

        for attempt in range(1, faults.CONFLICT_TRIES + 1):
            con.execute("BEGIN TRANSACTION")
            try:
                if made():  # by another process meanwhile
                    con.execute("ROLLBACK")
                    return
                migration = rows[-1][1]
                for i, sql in enumerate(steps, 1):
                    with _step(upgrade, migration, f"statement {i} of {len(steps)} ({_what(sql)})"):
                        con.execute(sql)
                for number, name in rows:
                    con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])
                with _step(upgrade, migration, "committing"):
                    con.execute("COMMIT")
                return
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended the transaction already
                    con.execute("ROLLBACK")
                if made():
                    log.info("%s: migration %s was applied by another process at the same moment", location,
                             rows[-1][1])
                    return
                if not faults.is_conflict(exc) or attempt == faults.CONFLICT_TRIES:
                    raise
                time.sleep(faults.BACKOFF_FIRST * attempt)

    if current == 0:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()").fetchone()
        if tables and tables[0]:  # as for a file (db._refuse_foreign): never add our tables to another's lake
            raise StoreError(f"{location} is not a usable Seamwatch lake: it holds {tables[0]} tables and no "
                             "Seamwatch schema; it was left untouched.")
        run([ddl for _, ddl in model_tables()] + lake_only_statements(), [(n, name) for n, name, _ in MIGRATIONS])
    else:
        for number, name, sql in MIGRATIONS:
            if number not in applied:
                steps = [s for s in (lake_statement(q, migration=name) for q in statements(sql)) if s]
                started = time.monotonic()
                run(steps, [(number, name)])
                if upgrade:
                    upgrade.done(name, time.monotonic() - started)
        if upgrade:
            upgrade.end()
    return schema_version(con)
