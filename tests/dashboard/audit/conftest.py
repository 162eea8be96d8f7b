"""Small hand-built traces, records and offset polls, written into a real temporary store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.analyses.window import Window
from tests.support.builders import T0, Data


@pytest.fixture
def data(store) -> Data:
    return Data(store)


@pytest.fixture
def window() -> Window:
    """Two hours around T0, wide enough for every test's rows."""
    return Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
