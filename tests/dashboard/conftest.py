"""Fixtures shared by the analysis tests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.analyses.window import Window
from tests.support.builders import T0


@pytest.fixture
def window() -> Window:
    """Two hours around T0, wide enough for every hand-built test's rows."""
    return Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
