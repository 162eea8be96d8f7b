"""Fixtures shared by every test package.

The ``store`` fixture is parametrized over the kinds of store (docs/architecture.md#the-lake):
``file``, a DuckDB file, and ``lake``, a DuckLake on a throwaway PostgreSQL cluster
(scripts/postgres_server.py). SEAMWATCH_TEST_STORES chooses the kinds, ``file`` by default;
the lake needs the ``lake`` extra (duckdb 1.5.5 and its extension wheels), so scripts/test.sh
runs ``SEAMWATCH_TEST_STORES=lake`` in a second environment, where only the tests that take a
store, or are marked ``lake``, are collected. A test that only makes sense on a file is marked
``file_only``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.store import Store
from tests.support.services import service_script

ROOT = Path(__file__).resolve().parents[1]


def store_kinds() -> list[str]:
    kinds = [k.strip() for k in os.environ.get("SEAMWATCH_TEST_STORES", "file").split(",") if k.strip()]
    unknown = set(kinds) - {"file", "lake"}
    if unknown or not kinds:
        raise pytest.UsageError(f"SEAMWATCH_TEST_STORES takes file and/or lake, not {sorted(unknown) or kinds}")
    return kinds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        metafunc.parametrize("store_kind", store_kinds(), scope="function")


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Name the test under way in SEAMWATCH_TEST_PROGRESS (scripts/test.sh sets it), so that a run
    killed by a signal in native code can say which test it died in."""
    if progress := os.environ.get("SEAMWATCH_TEST_PROGRESS"):
        Path(progress).write_text(nodeid + "\n")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the lake kind, leave out the ``lake`` tests (they run in the lake environment);
    in a lake-only run, keep only the tests that run on a lake store and the ``lake`` tests."""
    kinds = store_kinds()
    if "lake" not in kinds:
        drop = [item for item in items if item.get_closest_marker("lake")]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [item for item in items if not item.get_closest_marker("lake")]
        return
    if "file" in kinds:
        return
    keep, drop = [], []
    for item in items:
        on_lake = getattr(item, "callspec", None) is not None and item.callspec.params.get("store_kind") == "lake"
        wanted = (on_lake and item.get_closest_marker("file_only") is None) or item.get_closest_marker("lake")
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _harness(name: str = "postgres_server") -> Any:
    """A service's script (scripts/<name>.py) as a module."""
    return service_script(name)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"lake tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"no lake: {reason}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A PostgreSQL 15 cluster for the session (the lake's catalog); skips, or fails under CI, without one."""
    harness = _harness()
    why = harness.missing_requirement()
    if why:
        _unavailable(why)
    from collectors.errors import StoreError
    from collectors.store.lake import extension_file

    try:
        extension_file("ducklake")
        extension_file("postgres")
        extension_file("httpfs")
    except StoreError as exc:
        _unavailable(str(exc))
    with _cluster(harness, on_failure=lambda exc: _unavailable(str(exc).splitlines()[0])) as pg:
        yield pg


@pytest.fixture
def own_postgres(postgres: Any) -> Iterator[Any]:
    """A PostgreSQL cluster of the test's own, for tests that stop and start it under a running collector."""
    with _cluster(sys.modules["postgres_server"]) as pg:
        yield pg


@contextlib.contextmanager
def _cluster(harness: Any, on_failure: Callable[[Exception], None] | None = None) -> Iterator[Any]:
    """A started PostgreSQL cluster in a new folder, stopped and removed afterwards."""
    # not under pytest's tmp folders: they are private to root, and as root the server runs as 'postgres'
    workdir = Path(tempfile.mkdtemp(prefix="seamwatch-pg-"))
    pg = harness.Postgres(workdir)
    try:
        try:
            pg.start()
        except harness.PostgresError as exc:
            if on_failure is None:
                raise
            on_failure(exc)
        yield pg
    finally:
        try:
            pg.stop(mode="immediate")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


BUCKET = "seamwatch"  # the bucket each S3 server of the tests starts with


@pytest.fixture(scope="session")
def s3_server(postgres: Any) -> Iterator[Any]:
    """An S3-compatible server (SeaweedFS, scripts/s3_server.py) for the session, with the bucket
    BUCKET; skips, or fails under CI, without one. A lake on it needs its environment (``s3_env``)."""
    harness = _harness("s3_server")
    why = harness.missing_requirement()
    if why:
        _unavailable(why)
    with _s3(harness, on_failure=lambda exc: _unavailable(str(exc).splitlines()[0])) as server:
        yield server


@pytest.fixture
def own_s3_server(s3_server: Any) -> Iterator[Any]:
    """An S3 server of the test's own, for tests that stop and start it under a running collector."""
    with _s3(sys.modules["s3_server"]) as server:
        yield server


@contextlib.contextmanager
def _s3(harness: Any, on_failure: Callable[[Exception], None] | None = None) -> Iterator[Any]:
    workdir = Path(tempfile.mkdtemp(prefix="seamwatch-s3-"))
    server = harness.S3Server(workdir)
    try:
        try:
            server.start()
            server.create_bucket(BUCKET)
        except harness.S3ServerError as exc:
            if on_failure is None:
                raise
            on_failure(exc)
        yield server
    finally:
        try:
            server.kill()  # thrown away: its graceful stop would only cost seconds
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def s3_env(monkeypatch: pytest.MonkeyPatch, server: Any) -> str:
    """Point this process (and the processes it starts) at ``server``, as a deployment's
    environment does; returns a new, empty prefix of its bucket, s3://BUCKET/<name>/."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    return f"s3://{BUCKET}/lake_{uuid.uuid4().hex[:12]}/"


def lake_on(pg: Any, data_path: Path | str) -> str:
    """A new lake whose catalog is a new database of ``pg``, its files under ``data_path``."""
    from collectors.store.lake import create

    location = "ducklake:postgres:" + pg.createdb(f"lake_{uuid.uuid4().hex[:12]}")
    create(location, data_path)
    return location


def older_lake(location: str, data_path: Path, upto: int) -> Any:
    """A lake as a Seamwatch at schema ``upto`` made it: its tables and versions, on an open
    connection the caller fills (or not) and closes."""
    from collectors.store.db import connect_memory
    from collectors.store.lake import attach, model_tables
    from collectors.store.migrate import MIGRATIONS

    con = connect_memory()
    attach(con, location, read_only=False, data_path=data_path)
    for _table, ddl in model_tables(upto=upto):
        con.execute(ddl)
    for number, name, _ in MIGRATIONS:
        if number <= upto:
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])
    return con


@pytest.fixture
def new_lake(postgres: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Makes empty lakes: a new catalog database each call, data under the test's tmp_path."""
    from collectors.store.lake import create

    def make(*, create_it: bool = True) -> str:
        name = f"lake_{uuid.uuid4().hex[:12]}"
        location = "ducklake:postgres:" + postgres.createdb(name)
        if create_it:
            create(location, tmp_path / name)
        return location

    return make


@pytest.fixture
def store_location(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a test's store lives: a DuckDB file path, or a new lake's location."""
    if store_kind == "file":
        return str(tmp_path / "test.duckdb")
    return request.getfixturevalue("new_lake")()


@pytest.fixture
def store(store_location: str):
    """A fresh, migrated store: a temporary DuckDB file, or a new lake (see the module's doc)."""
    with Store(store_location) as s:
        yield s


@pytest.fixture
def data(store):
    """Small hand-built traces, records and offset polls, written into the test's store."""
    from tests.support.builders import Data

    return Data(store)
