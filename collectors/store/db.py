"""The Store object: opens the DuckDB file (or a lake: collectors/store/lake.py), migrates it,
appends Arrow batches atomically.

DuckDB admits one writing process per file, so one Store is shared by every thread of
a process: writers append through :meth:`Store.append`, readers take a :meth:`cursor`
and see a consistent snapshot (MVCC) while writes go on.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from collectors.errors import ConfigError, StoreError, StoreLockedError, first_line
from collectors.otlp.config import parse_size
from collectors.store.lake import attach, is_lake
from collectors.store.migrate import LATEST, migrate, schema_version

_LOCK_PID = re.compile(r"\(PID (\d+)\)")
DEFAULT_MEMORY_LIMIT = "1GiB"

# Rows per DuckDB row group (its default is 122,880). DuckDB writes an append straight to the
# file, compressed, once it fills a row group; a smaller append goes through the write-ahead
# log and is compressed again at checkpoint. With 32,768 the Kafka tap's and importers'
# batches fill row groups: 200k bench records in 50k-row transactions commit in 2.5 µs a
# record instead of 5.8. DuckDB takes the size per attachment, so every open passes it.
ROW_GROUP_ROWS = 32_768

# Tables a caller may append to; identifiers are never taken from input.
APPENDABLE = frozenset(
    {"spans", "records", "group_offsets", "topic_offsets", "ingest_errors", "topic_generations", "topic_configs"}
)
# Tables a caller replaces whole (the declared topology, migration 002).
REPLACEABLE = frozenset(
    {"topology_services", "topology_endpoints", "topology_topics", "topology_groups",
     "topology_sync_edges", "topology_limits"}
)


def _holder(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    for i, arg in enumerate(args):
        if arg.endswith("seamwatch"):
            return "seamwatch " + " ".join(args[i + 1 : i + 2])
    return Path(args[0]).name if args else None


class Writer:
    """Writes inside one open transaction (see :meth:`Store.transaction`)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, *, lake: bool = False) -> None:
        self._cur = cur
        self._lake = lake

    @property
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """The transaction's cursor, for derivations that write with SQL (INSERT … SELECT)."""
        return self._cur

    def append(self, name: str, table: pa.Table) -> None:
        if name not in APPENDABLE:
            raise ValueError(f"not an appendable table: {name}")
        if table.num_rows == 0:
            return
        self._cur.register("_batch", table)
        cols = ", ".join(f'"{c}"' for c in table.column_names)
        self._cur.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _batch')  # noqa: S608
        self._cur.unregister("_batch")

    def replace(self, name: str, table: pa.Table) -> None:
        """Replace every row of a REPLACEABLE table (inside this transaction)."""
        if name not in REPLACEABLE:
            raise ValueError(f"not a replaceable table: {name}")
        self._cur.execute(f'DELETE FROM "{name}"')  # noqa: S608 (name checked above)
        if table.num_rows:
            self._cur.register("_batch", table)
            cols = ", ".join(f'"{c}"' for c in table.column_names)
            self._cur.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _batch')  # noqa: S608
            self._cur.unregister("_batch")

    def set_positions(self, positions: Iterable[tuple[Any, ...]]) -> None:
        """Record where the tap resumes: (cluster, topic, partition, next offset[, topic id])."""
        rows = [(*r, None) if len(r) == 4 else tuple(r) for r in positions]
        if not rows:
            return
        now_us = time.time_ns() // 1000
        insert = ('INSERT INTO tap_positions (cluster, topic, "partition", next_offset, updated_at, topic_id) '
                  "VALUES (?, ?, ?, ?, make_timestamp(?), ?)")
        values = [(c, t, p, o, now_us, i) for c, t, p, o, i in rows]
        if self._lake:
            # Appended only: on a lake, deleting a row conflicts with every other collector's
            # append to the table (DuckLake 1.5.5: "another transaction has deleted inlined data"),
            # while appends never do. Store.resume_points reads the furthest row of each topic id.
            self._cur.executemany(insert, values)
            return
        # DELETE + INSERT rather than INSERT OR REPLACE: after an in-place replace DuckDB reports
        # a write transaction still active, skips every automatic checkpoint and keeps all
        # written rows in memory (the tap's bench: RSS grew ~0.75 GB per million records)
        self._cur.executemany('DELETE FROM tap_positions WHERE cluster = ? AND topic = ? AND "partition" = ?',
                              [(c, t, p) for c, t, p, _, _ in rows])
        self._cur.executemany(insert, values)

    def set_import_progress(self, *, sha256: str, path: str, kind: str, lines_done: int,
                            rows_imported: int, rows_rejected: int) -> None:
        """Record that a file's lines up to ``lines_done`` are in this transaction (import resumes there)."""
        self._cur.execute("DELETE FROM import_progress WHERE sha256 = ?", [sha256])
        self._cur.execute(
            "INSERT INTO import_progress VALUES (?, ?, ?, ?, ?, ?, make_timestamp(?))",
            [sha256, path, kind, lines_done, rows_imported, rows_rejected, int(time.time() * 1_000_000)],
        )

    def mark_imported(self, *, sha256: str, path: str, kind: str, size_bytes: int,
                      rows_imported: int, rows_rejected: int) -> None:
        self._cur.execute("DELETE FROM import_progress WHERE sha256 = ?", [sha256])
        self._cur.execute(
            "INSERT INTO imported_files VALUES (?, ?, ?, ?, ?, ?, make_timestamp(?))",
            [sha256, path, kind, size_bytes, rows_imported, rows_rejected, int(time.time() * 1_000_000)],
        )


# Every connection: no extension is ever installed or loaded behind our back. DuckDB would
# otherwise fetch one from the internet to read a file it recognises (a SQLite file given as
# --db made it try to download the sqlite extension: issue 10, case 16).
CONNECTION_CONFIG = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
# A DuckDB database file has these 4 bytes at offset 8 (its main header); SQLite's file begins so.
_DUCKDB_MAGIC = b"DUCK"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def connect_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with extension auto-install and auto-load off."""
    return duckdb.connect(config=dict(CONNECTION_CONFIG))


def _file_kind(path: str) -> str | None:
    """None when ``path`` is absent, empty or a DuckDB file; else what it is, for the refusal."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if not head or head[8:12] == _DUCKDB_MAGIC:
        return None
    if head.startswith(_SQLITE_MAGIC):
        return "a SQLite database"
    return "not a DuckDB file"


def write_error(path: str, exc: BaseException, *, doing: str) -> StoreError:
    """One sentence for a failed write: a full disk says so and names the file."""
    text = first_line(exc)
    if "no space left" in text.lower() or "disk full" in text.lower():
        return StoreError(f"no space left on the device of {path} while {doing}; what was committed before is "
                          "kept: free space and run the command again to continue.")
    return StoreError(f"cannot write to {path} while {doing}: {text}")


def _connect(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the file, attached with ROW_GROUP_ROWS."""
    con = connect_memory()
    try:
        literal = "'" + path.replace("'", "''") + "'"
        mode = "READ_ONLY, " if read_only else ""
        con.execute(f"ATTACH {literal} AS store ({mode}ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        con.execute("USE store")
    except BaseException:
        con.close()
        raise
    return con


class Store:
    """One DuckDB database. Construct cheaply; :meth:`open` connects and migrates."""

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False,
                 checkpoint_threshold: str | None = None, memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
                 threads: int | None = None) -> None:
        self.path = str(path)
        self.threads = threads  # DuckDB's worker threads (None: one a core, DuckDB's default)
        self.read_only = read_only
        self.checkpoint_threshold = checkpoint_threshold
        # DuckDB would take 80 % of the machine's RAM; past this it spills to disk or fails a query
        self.memory_limit = _size(memory_limit, what="memory limit") if memory_limit else None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._write_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------
    @property
    def lake(self) -> bool:
        """True when the store is a DuckLake (collectors/store/lake.py), not a DuckDB file."""
        return is_lake(self.path)

    def _open_lake(self) -> duckdb.DuckDBPyConnection:
        con = connect_memory()
        try:
            attach(con, self.path, read_only=self.read_only)
        except BaseException:
            con.close()
            raise
        return con

    def open(self) -> Store:
        if self._con is not None:
            return self
        if self.lake:
            con = self._open_lake()
        else:
            con = self._open_file()
        try:
            if self.memory_limit:
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
                # DuckDB's allocator keeps up to 128 MiB it freed before flushing it to the system: no
                # more than a quarter of the limit (a --memory budget's small limit, docs/architecture.md)
                if (flush := _flush_threshold(self.memory_limit)) is not None:
                    con.execute(f"SET allocator_flush_threshold = '{flush}B'")
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            if self.checkpoint_threshold and not self.lake:
                con.execute(f"SET checkpoint_threshold = '{_size(self.checkpoint_threshold)}'")
            if self.read_only:
                version = schema_version(con)
                if version == 0:
                    raise StoreError(f"{self.path} is not a usable Seamwatch database: it has no Seamwatch "
                                     "schema; it was left untouched.")
                if self.lake and version != LATEST:
                    raise _lake_version_error(self.path, version)
            else:
                migrate(con, self.path)
        except duckdb.Error as exc:
            con.close()
            if "no space left" in str(exc).lower():
                raise write_error(self.path, exc, doing="opening it") from None
            raise StoreError(f"{self.path} is not a usable Seamwatch database: {str(exc).splitlines()[0]}") from None
        except StoreError:
            con.close()
            raise
        self._con = con
        return self

    def _open_file(self) -> duckdb.DuckDBPyConnection:
        if self.read_only and not Path(self.path).exists():
            raise StoreError(f"{self.path} does not exist; import data or run 'seamwatch demo' first.")
        parent = Path(self.path).parent
        if not self.read_only and not parent.is_dir():
            raise StoreError(f"cannot create {self.path}: folder {parent} does not exist.")
        what = _file_kind(self.path)
        if what is not None:
            raise StoreError(f"{self.path} is not a usable Seamwatch database: it is {what}; it was left untouched.")
        if not self.read_only and Path(self.path).exists():
            _refuse_foreign(self.path)
        try:
            con = _connect(self.path, read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                m = _LOCK_PID.search(text)
                pid = int(m.group(1)) if m else None
                raise StoreLockedError(self.path, pid, _holder(pid)) from None
            raise StoreError(f"cannot open {self.path}: {text.splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {self.path}: {str(exc).splitlines()[0]}") from None
        return con

    def close(self) -> None:
        if self._con is not None:
            with self._write_lock:
                self._con.close()
                self._con = None

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError("the store is not open")
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread's reads; it sees a consistent snapshot per query."""
        cur = self.con.cursor()
        cur.execute("USE store")  # a cursor starts in DuckDB's in-memory database
        return cur

    # -- writes ----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """Everything written through the yielded Writer commits together, or not at all."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                yield Writer(cur, lake=self.lake)
                cur.execute("COMMIT")
            except BaseException:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # a failed COMMIT (a full disk) has ended the transaction; keep its error, not this one
                raise
            finally:
                cur.close()

    def append(
        self,
        tables: Mapping[str, pa.Table],
        *,
        positions: Iterable[tuple[Any, ...]] = (),
    ) -> None:
        """Append Arrow tables in one transaction, with the Kafka tap positions they cover."""
        with self.transaction() as tx:
            for name, table in tables.items():
                tx.append(name, table)
            tx.set_positions(positions)

    # -- read helpers ----------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Row count of every table of the schema."""
        cur = self.cursor()
        names = [r[0] for r in cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1"
        ).fetchall()]
        return {n: cur.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}  # noqa: S608 (catalog names)

    def was_imported(self, sha256: str) -> bool:
        row = self.cursor().execute("SELECT 1 FROM imported_files WHERE sha256 = ?", [sha256]).fetchone()
        return row is not None

    def import_progress(self, sha256: str) -> tuple[int, int, int] | None:
        """(lines done, rows imported, rows rejected) of an interrupted import of a file, if any."""
        row = self.cursor().execute(
            "SELECT lines_done, rows_imported, rows_rejected FROM import_progress WHERE sha256 = ?", [sha256]
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def positions(self, cluster: str) -> dict[tuple[str, int], int]:
        """Where the Kafka tap resumes for a cluster when the topics' ids are not known: (topic,
        partition) → next offset of the topic id written last (see resume_points)."""
        points = self.resume_points(cluster)
        return {tp: max(by_id.values(), key=lambda v: (v[1] is not None, v[1]))[0]
                for tp, by_id in points.items()}

    def resume_points(self, cluster: str) -> dict[tuple[str, int], dict[str | None, tuple[int, Any]]]:
        """Where the Kafka tap stopped, per topic id: (topic, partition) → {topic id: (next offset,
        when last written)}. A file keeps one row per partition; a lake appends a row per batch
        (Writer.set_positions), hence the furthest per id. Several ids under one name: the topic
        was deleted and created again (collectors/kafka/resume_gaps.py chooses)."""
        rows = self.cursor().execute(
            'SELECT topic, "partition", topic_id, max(next_offset), max(updated_at) FROM tap_positions '
            "WHERE cluster = ? GROUP BY ALL", [cluster]).fetchall()
        out: dict[tuple[str, int], dict[str | None, tuple[int, Any]]] = {}
        for t, p, topic_id, offset, at in rows:
            out.setdefault((t, p), {})[topic_id] = (offset, at)
        return out


def _lake_version_error(location: str, version: int) -> StoreError:
    """A reader never migrates a lake: it reads the version it was written for, or says what to do.

    (A file's reader reads an older schema and says what is missing; a lake is shared, and one
    migrating collector brings every reader's tables up at once.)"""
    if version > LATEST:
        return StoreError(f"the lake {location!r} has schema version {version}, newer than this Seamwatch "
                          f"knows ({LATEST}); upgrade Seamwatch to read it.")
    return StoreError(f"the lake {location!r} has schema version {version}, older than this Seamwatch's "
                      f"({LATEST}); run this Seamwatch's 'seamwatch collect --db ...' on it once to migrate it, "
                      "then read it.")


def _refuse_foreign(path: str) -> None:
    """Refuse a DuckDB file that holds another program's tables and no Seamwatch schema.

    Looked at read-only and closed before the file is opened for writing: migrating it would add
    Seamwatch's tables to someone else's database (issue 10, case 15).
    """
    try:
        con = _connect(path, read_only=True)
    except duckdb.Error:
        return  # locked, or unreadable: the writable open reports it in its own words
    try:
        if schema_version(con) == 0:
            tables = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store'").fetchone()
            if tables and tables[0]:
                raise StoreError(f"{path} is not a usable Seamwatch database: it is another program's DuckDB "
                                 f"database ({tables[0]} tables, no Seamwatch schema); it was left untouched.")
    finally:
        con.close()


_SIZE = re.compile(r"^\d+(\.\d+)?\s*[KMGT]?i?B$", re.IGNORECASE)


def _size(text: str, *, what: str = "checkpoint threshold") -> str:
    if not _SIZE.match(text.strip()):
        raise StoreError(f"{what} must look like '1GB' or '512MiB', not {text!r}")
    return text.strip()


def _flush_threshold(memory_limit: str) -> int | None:
    """A quarter of the memory limit, at most DuckDB's default (128 MiB); None for a size in a form
    this does not read ("1.5GB"): DuckDB's default then."""
    try:
        return min(parse_size(memory_limit, what="memory limit") // 4, 128 << 20)
    except ConfigError:
        return None


def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> Store:
    """Open (creating and migrating when writable) the Seamwatch database at ``path``."""
    return Store(path, read_only=read_only).open()
