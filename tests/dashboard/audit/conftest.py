"""Small hand-built traces, records and offset polls, written into a real temporary store."""

from __future__ import annotations

import pytest

from tests.support.builders import Data


@pytest.fixture
def data(store) -> Data:
    return Data(store)
