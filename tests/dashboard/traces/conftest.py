"""Hand-built traces, records and offset polls in a real temporary store, then derived."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.analyses.window import Window
from tests.support import builders
from tests.support.builders import T0


class Data(builders.Data):
    default_value = b"{}"  # the trace-side tests publish empty JSON objects


@pytest.fixture
def data(store) -> Data:
    return Data(store)


@pytest.fixture
def window() -> Window:
    return Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
