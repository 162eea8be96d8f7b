"""Issue 10, case 21: a custom range the date widgets cannot hold crashed every page.

`?range=custom&from=1999-…` (or a year 2999 end) put a value outside the date input's
bounds into session state, and Streamlit raised StreamlitInvalidMinMaxError on every page.
The range is now clamped to what the widgets accept, and a range wider than the data to the
data, each with a note saying so.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard.pages_registry import PAGES
from tests.support.apptest import app_over
from tests.support.builders import Data


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few records and spans around 2026-03-02 12:00 (builders.T0)."""
    db = tmp_path_factory.mktemp("dates") / "small.duckdb"
    with Store(db) as store:
        data = Data(store)
        for i in range(5):
            trace = data.trace_id()
            root = data.span(trace, "web", "server", "GET /", at=60.0 * i)
            data.produce(trace, "web", "shop.orders", at=60.0 * i + 1, parent=root, partition=0, offset=i)
            data.record("shop.orders", 0, i, at=60.0 * i + 1, value={"id": str(i)})
        data.poll("g", "shop.orders", 0, 3, at=300, high_watermark=5)
        data.write()
    return db


@pytest.fixture
def app(small_db: Path, monkeypatch: pytest.MonkeyPatch):
    with app_over(small_db, monkeypatch) as at:
        yield at


def _text(at: AppTest) -> str:
    kinds = ("caption", "markdown", "info", "warning", "error")
    return "\n".join(str(e.value) for k in kinds for e in getattr(at, k)) + "\n" + "\n".join(
        str(e.value) for k in kinds for e in getattr(at.sidebar, k))


@pytest.mark.parametrize("slug", [p[3] for p in PAGES])
def test_a_range_before_2000_is_clamped_on_every_page(app: AppTest, slug: str) -> None:
    app.query_params.update({"range": "custom", "from": "1999-12-01T00:00", "to": "2026-03-02T13:00"})
    at = app.run()
    if slug != PAGES[0][3]:
        at.switch_page(next(p for p, _, _, s, _ in PAGES if s == slug)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.date_input(key="range_from_date").value >= date(2000, 1, 1)
    text = _text(at)
    assert "earliest" in text, "the sidebar says the start was moved, and why"
    # 1999 → 2026 holds far more than the data: the pages show the data's span, and say so.
    assert "narrowed to the data" in text
    assert "2026-03-02 12:00 – 2026-03-02 12:05 UTC" in text


def test_an_end_in_the_far_future_is_clamped(app: AppTest) -> None:
    app.query_params.update({"range": "custom", "from": "2026-03-02T11:00", "to": "2999-01-01T00:00"})
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.date_input(key="range_to_date").value.year < 2999
    assert "latest" in _text(at)


def test_a_range_beside_the_data_is_left_alone_with_the_empty_note(app: AppTest) -> None:
    """Nothing to clamp to: the page says the window is empty and where the data is."""
    app.query_params.update({"range": "custom", "from": "2001-01-01T00:00", "to": "2001-01-02T00:00"})
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    text = _text(at)
    assert "Nothing happened in this time range" in text
    assert "narrowed to the data" not in text


def test_an_unreadable_range_link_says_so(app: AppTest) -> None:
    app.query_params.update({"range": "custom", "from": "[x](https://evil.example)", "to": "soon"})
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.radio(key="range").value == "1h"
    assert "time range could not be read" in _text(at)
