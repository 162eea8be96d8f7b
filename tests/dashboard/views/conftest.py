"""The sample shop loaded into a store once per session and kind of store, and AppTest runs over it.

The store is built the way `seamwatch demo` builds it: the offline simulator writes OTLP
and record files, the collectors' own importer reads them, and the declared topology is
loaded beside them. Every page test takes ``sample_db``, so it runs on a file and on a lake
(the ``store_kind`` parameter, tests/conftest.py), each built once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard.read import data_span
from tests.support.apptest import app_over
from tests.support.markdown import as_read


def build_sample(db: Path | str, data_dir: Path, *, seed: int = 7, minutes: int = 30) -> None:
    """The demo's sequence: simulate, load the topology, import every file."""
    from collectors.derive import derive_all
    from collectors.importer import import_file
    from collectors.normalize.wire_format import FolderSchemas, WireDecoder
    from collectors.topology import load_into_store
    from sample_topology import TOPOLOGY_FILE
    from sample_topology.simulator import simulate_to_dir

    data_dir.mkdir(parents=True, exist_ok=True)
    simulate_to_dir(data_dir, seed=seed, minutes=minutes)
    with Store(db) as store:
        load_into_store(store, TOPOLOGY_FILE)
        decoder = WireDecoder(FolderSchemas(data_dir / "schemas"))  # the Avro topic's schemas
        for f in sorted(p for p in data_dir.iterdir() if p.is_file()):
            import_file(store, f, cluster="sample", decoder=decoder)
        derive_all(store, quiet_for=timedelta(0))
        if store.lake:  # as a collector's lake maintenance leaves it: each table's rows in a few Parquet files
            from collectors.store.lake_maintenance import maintain

            maintain(store, keep=timedelta(0))


@pytest.fixture(scope="session")
def built_stores(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """The sample store of a kind ('file' or 'lake'), built on first use and kept for the session:
    page tests only read it."""
    built: dict[str, str] = {}

    def get(kind: str) -> str:
        if kind not in built:
            root = tmp_path_factory.mktemp(f"sample-{kind}")
            if kind == "file":
                location = str(root / "sample.duckdb")
            else:
                from collectors.store.lake import create

                location = "ducklake:postgres:" + request.getfixturevalue("postgres").createdb("sample_lake")
                create(location, root / "lake")
            build_sample(location, root / "data")
            built[kind] = location
        return built[kind]

    return get


@pytest.fixture
def sample_db(built_stores: Callable[[str], str], store_kind: str) -> str:
    """Where the sample store of this test's kind is: a file path or a lake location."""
    return built_stores(store_kind)


@pytest.fixture
def app(sample_db: str, monkeypatch: pytest.MonkeyPatch):
    """A fresh AppTest over the sample store, with every Streamlit cache cleared."""
    with app_over(sample_db, monkeypatch) as at:
        yield at


@pytest.fixture
def everything(sample_db: str):
    """The whole sample as one window, as the 'all data' preset resolves it, and a cursor."""
    with Store(sample_db, read_only=True) as store:
        cur = store.cursor()
        yield cur, data_span(cur)


def page_text(at: AppTest) -> str:
    """Every piece of visible text of a run, for 'the number is shown' assertions."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success"):
        parts.extend(as_read(str(e.value)) for e in getattr(at, kind))
    for m in at.metric:
        parts.append(f"{m.label}: {m.value}")
    return "\n".join(parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def shown():
    """What a run shows: shown.text(at) and shown.metrics(at)."""
    return SimpleNamespace(text=page_text, metrics=metrics)
