"""Hand-built traces, records and offset polls in a real temporary store, then derived."""

from __future__ import annotations

import pytest

from tests.support import builders


class Data(builders.Data):
    default_value = b"{}"  # the trace-side tests publish empty JSON objects


@pytest.fixture
def data(store) -> Data:
    return Data(store)
