"""Streamlit's AppTest over a store: the dashboard's entry, with every cache and shared store cleared around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from collectors.store import shared
from dashboard.pages_registry import PAGES

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def _clear() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
    shared.close_all()


@contextmanager
def app_over(db: Path, monkeypatch: pytest.MonkeyPatch, *, timeout: float = 60) -> Iterator[AppTest]:
    """A fresh AppTest of the dashboard over ``db`` (no refresh timer), caches cleared before and after."""
    monkeypatch.setenv("SEAMWATCH_DB", str(db))
    monkeypatch.setenv("SEAMWATCH_REFRESH", "0")
    _clear()
    try:
        yield AppTest.from_file(str(APP), default_timeout=timeout)
    finally:
        _clear()


def open_page(app: AppTest, path: str, **params: str) -> AppTest:
    """``path`` opened as a link opens it (``?page=`` and its query parameters; the 'all data'
    range unless one is given), run once without an exception."""
    params.setdefault("range", "all")
    app.query_params["page"] = next(slug for file, _, _, slug, _ in PAGES if file == path)
    for k, v in params.items():
        app.query_params[k] = v
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def page_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fill: Callable[[Any], None], path: str,
              **params: str) -> AppTest:
    """``path`` opened as open_page opens it over a store file ``fill`` wrote (it gets the store's
    builder, tests.support.builders.Data, and its rows are written after it), closed first."""
    from collectors.store import Store
    from tests.support.builders import Data

    db = tmp_path / "browsed.duckdb"
    with Store(db) as store:
        data = Data(store)
        fill(data)
        data.write()
    with app_over(db, monkeypatch) as app:
        return open_page(app, path, **params)
