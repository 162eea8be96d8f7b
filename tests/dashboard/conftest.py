"""Fixtures shared by the analysis tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from collectors.store import Store
from collectors.topology import load_into_store
from dashboard.analyses.window import Window
from dashboard.cli import cli
from sample_topology import TOPOLOGY_FILE
from sample_topology.simulator import simulate_to_dir
from tests.support.builders import T0
from tests.support.golden import GOLDEN_START_US, load_golden


@dataclass(frozen=True)
class GoldenShop:
    db: Path
    topology: Any


@pytest.fixture(scope="session")
def golden() -> dict:
    """sample_topology's expected_findings.json."""
    return load_golden()


@pytest.fixture(scope="session")
def golden_shop(tmp_path_factory: pytest.TempPathFactory, golden: dict) -> GoldenShop:
    """The sample shop simulated with the golden file's seed and put through `seamwatch import`
    once for every golden test (they only read it)."""
    tmp = tmp_path_factory.mktemp("golden")
    simulate_to_dir(tmp / "files", seed=golden["seed"], minutes=golden["minutes"], start_us=GOLDEN_START_US)
    db = tmp / "shop.duckdb"
    with Store(db) as store:
        topology = load_into_store(store, TOPOLOGY_FILE)
    # the files, and the schemas of the Avro topic (shop.accounts) beside them
    result = CliRunner().invoke(cli, ["import", "--db", str(db), "--cluster", "sample",
                                      "--schemas", str(tmp / "files" / "schemas"),
                                      *map(str, sorted(p for p in (tmp / "files").iterdir() if p.is_file()))])
    assert result.exit_code == 0, result.output
    return GoldenShop(db, topology)


@pytest.fixture
def window() -> Window:
    """Two hours around T0, wide enough for every hand-built test's rows."""
    return Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
