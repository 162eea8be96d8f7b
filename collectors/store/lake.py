"""The second kind of store: a DuckLake whose catalog is a PostgreSQL database.

A DuckDB file admits one process (docs/architecture.md#one-writer-process). A DuckLake keeps its
catalog in PostgreSQL and its rows in Parquet files under a data path, so many collector and
dashboard processes, on many machines, share one store (docs/architecture.md#the-lake). Seamwatch
names a lake ``ducklake:postgres:<libpq connection string>`` wherever it takes ``--db``; the
data path is given once, when the lake is created (``seamwatch lake create``), and the catalog
remembers it. The data path is a folder every machine mounts, or a prefix on S3-compatible
object storage (``s3://bucket/prefix/``), reached with the credentials and endpoint of the
standard AWS environment variables (:func:`s3_secret`).

DuckDB runs the lake through three extensions (ducklake, postgres, and httpfs for object
storage), loaded from the PyPI wheels of the ``lake`` extra (``pip install 'seamwatch[lake]'``):
nothing is downloaded at run time.

DuckLake has no PRIMARY KEY, UNIQUE, index or per-column compression, and ADD COLUMN takes
only a literal default. The file's migrations stay the one description of the schema: a new
lake gets the tables they produce (applied to an in-memory DuckDB, then created without
those features); an older lake is brought up to date statement by statement with
:func:`lake_statement`. The code never relies on a key to drop duplicates: positions,
progress and derive bookkeeping are replaced with DELETE + INSERT in one transaction.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from collectors.errors import StoreError, first_line

PREFIX = "ducklake:"
_CATALOG = "postgres:"
# The lake catalog of a Store is attached under this name, as the file is (collectors.store.db)
NAME = "store"
_EXTENSIONS = (("ducklake", "ducklake"), ("postgres", "postgres_scanner"), ("httpfs", "httpfs"))
# The DuckDB secret the lake's object storage is reached with, made from the environment
_S3_SECRET = "seamwatch_s3"


def is_lake(location: str | os.PathLike[str]) -> bool:
    """True when ``--db`` names a DuckLake rather than a DuckDB file."""
    return str(location).startswith(PREFIX)


def _catalog(location: str) -> str:
    rest = location[len(PREFIX):]
    if not rest.startswith(_CATALOG) or not rest[len(_CATALOG):].strip():
        raise StoreError(f"{location!r} is not a lake Seamwatch can open: write "
                         "ducklake:postgres:<connection string>, e.g. 'ducklake:postgres:dbname=seamwatch host=db1'.")
    return rest


def extension_file(name: str) -> Path:
    """The .duckdb_extension file of the installed wheel duckdb-extension-<name>, for this duckdb."""
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    hint = ("a DuckLake store needs the lake extra: pip install 'seamwatch[lake]' (duckdb 1.5.5 with the "
            f"ducklake, postgres and httpfs extension wheels); this install has duckdb {duckdb.__version__}")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(f"{hint} and no duckdb-extension-{name}.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "extensions" / f"v{duckdb.__version__}"
    path = folder / f"{name}.duckdb_extension"
    if not path.is_file():
        raise StoreError(f"{hint}, for which duckdb-extension-{name} has no build ({folder} has no {path.name}).")
    return path


def _extension_directory() -> Path:
    # INSTALL copies the wheel's file here; DuckDB's default (~/.duckdb) is left alone
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seamwatch" / "duckdb_extensions"


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """INSTALL the ducklake, postgres and httpfs extensions from their wheels, then LOAD them."""
    directory = _extension_directory()
    directory.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET extension_directory = '{_quote(str(directory))}'")
    state = {r[0]: (r[1], r[2]) for r in con.execute(
        "SELECT extension_name, installed, loaded FROM duckdb_extensions()").fetchall()}
    for wheel, name in _EXTENSIONS:
        installed, loaded = state.get(name, (False, False))
        if loaded:
            continue
        path = extension_file(wheel)
        if not installed:  # the folder is per DuckDB version, and the extra pins the wheels to it
            con.execute(f"INSTALL '{_quote(str(path))}'")
        con.execute(f"LOAD {name}")


def is_url(data_path: str | os.PathLike[str]) -> bool:
    """True when a data path is object storage (``s3://bucket/prefix/``) rather than a folder."""
    return "://" in str(data_path)


def s3_secret(con: duckdb.DuckDBPyConnection, environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Make the DuckDB secret the lake's S3 data path is reached with, from the environment
    AWS's own tools read: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN),
    AWS_REGION (or AWS_DEFAULT_REGION) and, for S3-compatible storage that is not AWS,
    AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (``http://`` for a server without TLS; its
    buckets are addressed by path). False, and no secret, when none of them is set (DuckDB
    then reaches public buckets only). The secret lives in this connection's memory, never on
    disk, and is never logged.
    """
    env = os.environ if environ is None else environ
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
    variable = "AWS_ENDPOINT_URL_S3" if env.get("AWS_ENDPOINT_URL_S3") else "AWS_ENDPOINT_URL"
    endpoint = env.get(variable) or ""
    if not (key or secret or region or endpoint):
        return False
    options = ["TYPE s3"]
    if key or secret:
        options += [f"KEY_ID '{_quote(key)}'", f"SECRET '{_quote(secret)}'"]
    if env.get("AWS_SESSION_TOKEN"):
        options.append(f"SESSION_TOKEN '{_quote(env['AWS_SESSION_TOKEN'])}'")
    if region:
        options.append(f"REGION '{_quote(region)}'")
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise StoreError(f"the S3 endpoint {endpoint!r} ({variable}) is not a URL: write e.g. "
                             "'https://s3.example.com' or 'http://127.0.0.1:8333'.")
        options += [f"ENDPOINT '{_quote(url.netloc)}'", "URL_STYLE 'path'",
                    f"USE_SSL {'true' if url.scheme == 'https' else 'false'}"]
    con.execute(f"CREATE OR REPLACE SECRET {_S3_SECRET} ({', '.join(options)})")
    return True


def _data_path(data_path: str | os.PathLike[str]) -> str:
    """The DATA_PATH of a new lake: an object storage prefix as given, a folder made absolute; a '/' last."""
    text = str(data_path) if is_url(data_path) else str(Path(data_path).resolve())
    return text if text.endswith("/") else text + "/"


def _quote(text: str) -> str:
    return text.replace("'", "''")


def _first_line(exc: BaseException) -> str:
    text = first_line(exc)
    # DuckDB's postgres errors repeat the whole attach path; keep what PostgreSQL said
    m = re.search(r"(Unable to connect to Postgres.*)", text)
    return m.group(1) if m else text


def attach(con: duckdb.DuckDBPyConnection, location: str, *, read_only: bool,
           data_path: str | os.PathLike[str] | None = None) -> None:
    """ATTACH the lake as ``store`` and USE it; a lake is created only when ``data_path`` is given."""
    catalog = _catalog(location)
    load_extensions(con)
    # before ATTACH: whether the catalog names object storage is known only once it is attached
    s3_secret(con)
    options = []
    if read_only:
        options.append("READ_ONLY")
    if data_path is not None:
        options.append(f"DATA_PATH '{_quote(_data_path(data_path))}'")
    else:
        options.append("CREATE_IF_NOT_EXISTS false")
    try:
        con.execute(f"ATTACH '{_quote(PREFIX + catalog)}' AS {NAME} ({', '.join(options)})")
    except duckdb.Error as exc:
        text = _first_line(exc)
        if "does not exist - and creating a new DuckLake is explicitly disabled" in text:
            raise StoreError(f"there is no lake at {location!r} yet: create it once with "
                             f"'seamwatch lake create --db \"{location}\" --data-path DIR'.") from None
        raise StoreError(f"cannot open the lake {location!r}: {text}") from None
    con.execute(f"USE {NAME}")
    # Concurrent appends by several collectors each commit after DuckLake re-reads the catalog;
    # its default of 10 tries ran out with two writers committing ~20 times a second each
    con.execute("SET ducklake_max_retry_count = 100")


def create(location: str, data_path: str | os.PathLike[str]) -> None:
    """Create the lake (catalog and schema), its Parquet files going under ``data_path``: a
    folder, or a prefix of a bucket that exists (``s3://bucket/prefix/``).

    Two processes creating one lake at the same moment collide in the catalog, so this is a
    separate step, run once (``seamwatch lake create``).
    """
    from collectors.store.db import connect_memory
    from collectors.store.migrate import migrate

    folder: str | Path = Path(data_path)
    if is_url(data_path):
        folder = str(data_path)
        if not folder.startswith("s3://") or not folder[len("s3://"):].split("/", 1)[0]:
            raise StoreError(f"cannot create the lake's data path {folder}: object storage is written "
                             "s3://bucket/prefix/ (S3 or an S3-compatible server, see AWS_ENDPOINT_URL).")
    else:
        folder = Path(data_path)
        if not folder.parent.is_dir():
            raise StoreError(f"cannot create the lake's data path {folder}: folder {folder.parent} does not exist.")
        folder.mkdir(exist_ok=True)
    con = connect_memory()
    try:
        try:
            attach(con, location, read_only=True)
        except StoreError as exc:
            if "there is no lake" not in str(exc):
                raise
        else:
            raise StoreError(f"a lake exists already at {location!r}; collect into it with --db.")
        if is_url(folder):
            _check_reachable(con, str(folder))
        attach(con, location, read_only=False, data_path=folder)
        migrate(con, location)
    finally:
        con.close()


def _check_reachable(con: duckdb.DuckDBPyConnection, prefix: str) -> None:
    """List the object storage prefix once, so that a missing bucket, a wrong endpoint or a refused
    key fails ``lake create`` in one sentence rather than the first collector's write."""
    try:
        con.execute("SELECT count(*) FROM glob(?)", [_data_path(prefix) + "*"]).fetchone()
    except duckdb.Error as exc:
        raise StoreError(f"cannot reach the lake's data path {prefix}: {first_line(exc)}") from None


# -- schema --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def model_tables(upto: int | None = None) -> tuple[tuple[str, str], ...]:
    """(table, CREATE TABLE for the lake) of the schema the file migrations produce, up to ``upto``.

    The migrations run on an in-memory DuckDB, so the lake's tables are exactly the file's,
    column for column, less what DuckLake lacks (keys, compression choices).
    """
    from collectors.store.db import connect_memory
    from collectors.store.migrate import MIGRATIONS

    con = connect_memory()
    try:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, name VARCHAR, applied_at TIMESTAMP)")
        for number, _name, sql in MIGRATIONS:
            if upto is None or number <= upto:
                for query in file_statements(sql):
                    con.execute(query)
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory' ORDER BY table_oid").fetchall()]
        out = []
        for table in tables:
            cols = con.execute(
                "SELECT column_name, data_type, column_default, is_nullable FROM duckdb_columns() "
                "WHERE database_name = 'memory' AND table_name = ? ORDER BY column_index", [table]).fetchall()
            parts = []
            for name, kind, default, nullable in cols:
                part = f'"{name}" {kind}'
                if default is not None:
                    part += f" DEFAULT ({default})"
                if not nullable:
                    part += " NOT NULL"
                parts.append(part)
            out.append((table, f'CREATE TABLE "{table}" ({", ".join(parts)})'))
        return tuple(out)
    finally:
        con.close()


_PRIMARY_INLINE = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b(?!\s*\()", re.IGNORECASE)
_KEY_CLAUSE = re.compile(r",\s*(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", re.IGNORECASE)
_COMPRESSION = re.compile(r"\s+USING\s+COMPRESSION\s+\w+", re.IGNORECASE)
_ON_CONFLICT_NOTHING = re.compile(
    r"^\s*INSERT\s+INTO\s+(\w+)\s+(SELECT\b.*?)\s+ON\s+CONFLICT\s*\(([^)]*)\)\s*DO\s+NOTHING\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)
_ADD_COLUMN_DEFAULT = re.compile(r"^\s*ALTER\s+TABLE\s+.*\bADD\s+COLUMN\b.*\bDEFAULT\s*\(", re.IGNORECASE | re.DOTALL)
_LEADING_COMMENTS = re.compile(r"\A(\s*--[^\n]*\n)*\s*")
_CREATE_INDEX = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)
_PARTITIONED_BY = re.compile(r"^(\s*--[^\n]*\n)*\s*ALTER\s+TABLE\s+.*\bSET\s+PARTITIONED\s+BY\b", re.IGNORECASE | re.DOTALL)


def is_lake_only(sql: str) -> bool:
    """True for a statement that only a lake has a meaning for (a table's partition keys)."""
    return bool(_PARTITIONED_BY.match(sql))


def lake_statement(sql: str, *, migration: str) -> str | None:
    """One migration statement as the lake runs it, None when it has no meaning there (an index).

    Raises StoreError for a statement the lake cannot express; such a migration needs its
    own lake statements (see docs/architecture.md#the-lake).
    """
    sql = _LEADING_COMMENTS.sub("", sql)  # DuckDB's parser keeps the comments above a statement
    if _CREATE_INDEX.match(sql):
        return None  # DuckLake has no indexes; Parquet statistics prune instead
    if _ADD_COLUMN_DEFAULT.match(sql):
        raise StoreError(f"migration {migration} adds a column with a computed default, which DuckLake cannot; "
                         "this Seamwatch cannot upgrade the lake.")
    m = _ON_CONFLICT_NOTHING.match(sql)
    if m:
        table, select, keys = m.group(1), m.group(2), [k.strip().strip('"') for k in m.group(3).split(",")]
        match = " AND ".join(f'_old."{k}" = _new."{k}"' for k in keys)
        # the migration's own text, never input
        return (f'INSERT INTO "{table}" SELECT * FROM ({select}) AS _new '  # noqa: S608
                f'WHERE NOT EXISTS (SELECT 1 FROM "{table}" AS _old WHERE {match})')
    sql = _KEY_CLAUSE.sub("", sql)
    sql = _PRIMARY_INLINE.sub("", sql)
    return _COMPRESSION.sub("", sql)


def lake_only_statements(upto: int | None = None) -> list[str]:
    """The lake-only statements of every migration up to ``upto`` (a new lake runs them after its tables)."""
    from collectors.store.migrate import MIGRATIONS

    return [q for number, _name, sql in MIGRATIONS if upto is None or number <= upto
            for q in statements(sql) if is_lake_only(q)]


def file_statements(sql: str) -> list[str]:
    """A migration as a DuckDB file runs it: statement by statement (each one's progress is said,
    collectors/store/upgrade_progress.py), less its lake-only statements; whole when DuckDB's
    parser cannot split it (duckdb 1.5.5 splits migration 005 into statements of which some have
    no text)."""
    parts = statements(sql)
    if "PARTITIONED" not in sql.upper() and any(not q.strip() for q in parts):
        return [sql]
    return [q for q in parts if not is_lake_only(q)]


def statements(sql: str) -> list[str]:
    """The statements of a migration file, split by DuckDB's own parser."""
    from collectors.store.db import connect_memory

    con = connect_memory()
    try:
        return [s.query for s in con.extract_statements(sql)]
    finally:
        con.close()


def is_lake_connection(cur: duckdb.DuckDBPyConnection) -> bool:
    """True when the cursor's current database is a DuckLake (SQL that needs a key differs there)."""
    row = cur.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row) and row[0] == "ducklake"


# -- files -----------------------------------------------------------------------------------

def data_files(cur: duckdb.DuckDBPyConnection, table: str | None = None) -> int:
    """The Parquet data files of the lake's current snapshot, of one table or of all (the
    catalog's own tables, which DuckLake attaches as ``__ducklake_metadata_<NAME>``)."""
    sql = ("SELECT count(*) FROM __ducklake_metadata_store.ducklake_data_file AS f "
           "JOIN __ducklake_metadata_store.ducklake_table AS t ON t.table_id = f.table_id "
           "WHERE f.end_snapshot IS NULL AND t.end_snapshot IS NULL AND (? IS NULL OR t.table_name = ?)")
    row = cur.execute(sql, [table, table]).fetchone()
    return int(row[0]) if row else 0


def files_read(cur: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> int:
    """How many data files the query reads: the sum of its lake scans' "Total Files Read", as
    EXPLAIN ANALYZE reports them (the query runs once). Partition keys and Parquet statistics
    let a scan skip the files outside its filter."""
    import json

    rows = cur.execute(f"EXPLAIN (ANALYZE, FORMAT json) {sql}", params).fetchall()

    def total(node: object) -> int:
        if isinstance(node, list):
            return sum(total(n) for n in node)
        if not isinstance(node, dict):
            return 0
        read = node.get("extra_info", {}).get("Total Files Read")
        return int(read or 0) + total(node.get("children", []))

    return total(json.loads(rows[0][1]))
