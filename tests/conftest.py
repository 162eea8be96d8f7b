"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.store import Store


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, migrated store in a temporary DuckDB file."""
    with Store(tmp_path / "test.duckdb") as s:
        yield s


@pytest.fixture
def data(store):
    """Small hand-built traces, records and offset polls, written into the test's store."""
    from tests.support.builders import Data

    return Data(store)
