"""A Kafka broker and a PostgreSQL cluster for a bench that was given none.

They are the test harness's own (scripts/kafka_broker.py, scripts/postgres_server.py), loaded
from the source tree beside the package: a bench run from a clone starts them itself; an
installed Seamwatch without its scripts asks for --bootstrap and --postgres instead.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from collectors.bench.child import BenchError

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str, option: str) -> ModuleType:
    path = SCRIPTS / f"{name}.py"
    if not path.is_file():
        raise BenchError(f"this install has no {path.name} to start one with; give {option}.")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def kafka(bootstrap: str | None) -> Iterator[str]:
    """``bootstrap`` when given; otherwise a throwaway broker's, stopped at the end."""
    if bootstrap:
        yield bootstrap
        return
    harness = _script("kafka_broker", "--bootstrap")
    if why := harness.missing_requirement():
        raise BenchError(f"cannot start a Kafka broker ({why}); give --bootstrap.")
    harness.fetch()
    workdir = Path(tempfile.mkdtemp(prefix="seamwatch-bench-kafka-"))
    broker = harness.Broker(workdir)
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        try:
            broker.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def postgres(conninfo: str | None) -> Iterator[object]:
    """A callable making a new database and returning its libpq string: on the server of
    ``conninfo`` when given (a user allowed to CREATE DATABASE), otherwise on a throwaway cluster."""
    import uuid

    if conninfo:
        createdb = shutil.which("createdb") or next(
            (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/createdb"))), None)
        if createdb is None:
            raise BenchError("--postgres needs PostgreSQL's createdb client (apt-get install postgresql-client).")

        def create_on_server(name: str) -> str:
            # CREATE DATABASE runs outside a transaction, which DuckDB's postgres_execute never is
            out = subprocess.run([createdb, f"--maintenance-db={conninfo}", name], capture_output=True, text=True,
                                 check=False, timeout=60)
            if out.returncode != 0:
                raise BenchError(f"cannot create a catalog database on --postgres: {out.stderr.strip()}")
            return f"{conninfo} dbname={name}"

        yield lambda: create_on_server(f"seamwatch_bench_{uuid.uuid4().hex[:10]}")
        return
    harness = _script("postgres_server", "--postgres")
    if why := harness.missing_requirement():
        raise BenchError(f"cannot start PostgreSQL ({why}); give --postgres.")
    workdir = Path(tempfile.mkdtemp(prefix="seamwatch-bench-pg-"))
    pg = harness.Postgres(workdir)
    try:
        pg.start()
        yield lambda: pg.createdb(f"bench_{uuid.uuid4().hex[:10]}")
    finally:
        try:
            pg.stop(mode="immediate")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
