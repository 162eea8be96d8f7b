"""AppTest from the entrypoint to every page over the sample store: no exception, key numbers shown."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from collectors.topology import load_topology
from dashboard.pages_registry import PAGES
from sample_topology import TOPOLOGY_FILE
from tests.support.markdown import as_read


def _open(at: AppTest, page: str | None = None) -> AppTest:
    if page:  # as a link opens it: one run of that page (the Overview is the default)
        at.query_params["page"] = next(slug for file, _, _, slug, _ in PAGES if file == page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", [p[0] for p in PAGES])
def test_every_page_renders_without_error(app: AppTest, shown, page: str) -> None:
    at = _open(app, page)
    assert not at.error, [e.value for e in at.error]
    assert at.title, "every page has a title"


def test_overview_shows_the_declared_topology(app: AppTest, shown) -> None:
    at = _open(app)
    services = len(load_topology(TOPOLOGY_FILE).services)
    assert shown.metrics(at)["Services"] == str(services)
    # The default window (the last hour) holds the demo's 30 minutes: no empty-window note.
    assert "Nothing happened in this time range" not in shown.text(at)
    assert at.get("plotly_chart"), "the topology graph is drawn"


def test_time_range_is_shared_and_in_the_url(app: AppTest, shown) -> None:
    at = _open(app)
    assert at.query_params.get("range") == "1h"
    at.sidebar.radio(key="range").set_value("15m").run()
    assert at.query_params.get("range") == "15m"
    at.switch_page(PAGES[-1][0]).run()
    assert at.sidebar.radio(key="range").value == "15m", "the filter survives a page switch"


def test_a_pasted_range_link_selects_the_window(app: AppTest, shown) -> None:
    app.query_params["range"] = "all"
    at = _open(app)
    assert at.sidebar.radio(key="range").value == "all"


@pytest.mark.file_only  # a file's own failure
def test_missing_database_is_one_sentence(app: AppTest, shown, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SEAMWATCH_DB", str(tmp_path / "none.duckdb"))
    at = app.run()
    assert not at.exception
    assert [as_read(e.value) for e in at.error] == [f"{tmp_path / 'none.duckdb'} does not exist; import data or run 'seamwatch demo' first."]


@pytest.mark.file_only  # a file's own failure
def test_corrupt_database_is_one_sentence(app: AppTest, shown, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"\x00garbage" * 1000)
    monkeypatch.setenv("SEAMWATCH_DB", str(bad))
    at = app.run()
    assert not at.exception
    assert len(at.error) == 1 and str(bad) in as_read(at.error[0].value) and "\n" not in at.error[0].value


@pytest.mark.file_only  # an empty file made here; an empty lake: test_lake_readers
def test_empty_store_explains_itself(app: AppTest, shown, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    db = tmp_path / "empty.duckdb"
    Store(db).open().close()
    monkeypatch.setenv("SEAMWATCH_DB", str(db))
    at = app.run()
    assert not at.exception and not at.error
    assert "The store holds no data yet" in shown.text(at)


def test_a_page_param_on_the_root_opens_that_page(app: AppTest) -> None:
    app.query_params["page"] = "lag"
    at = _open(app)
    assert at.title[0].value == "Event lag"


def test_a_custom_range_link_is_honoured_and_rewritten(app: AppTest, shown) -> None:
    for k, v in {"range": "custom", "from": "2026-03-02T12:00", "to": "2026-03-02T13:30"}.items():
        app.query_params[k] = v
    at = _open(app)
    assert at.sidebar.radio(key="range").value == "custom"
    assert (at.query_params.get("from"), at.query_params.get("to")) == ("2026-03-02T12:00", "2026-03-02T13:30")
    # The sample is not in that window: the page says so and offers the whole store.
    assert "Nothing happened in this time range" in shown.text(at)
    at.button(key="show_all_data").click().run()
    assert at.sidebar.radio(key="range").value == "all"


@pytest.mark.file_only  # a file's own failure
def test_a_database_held_by_another_process_is_one_sentence(app: AppTest, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path) -> None:
    import subprocess
    import sys

    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from collectors.store import Store; "
         "s = Store(sys.argv[1]).open(); print('ready', flush=True); time.sleep(60)", str(db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        monkeypatch.setenv("SEAMWATCH_DB", str(db))
        at = app.run()
        assert not at.exception
        assert len(at.error) == 1
        text = as_read(at.error[0].value)
        assert text.startswith(f"{db} is held by process {holder.pid}") and "\n" not in text
    finally:
        holder.kill()
        holder.wait(10)


@pytest.mark.file_only  # a file made here
def test_the_overview_lists_the_ingest_errors_with_their_reasons(app: AppTest, shown, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path) -> None:
    """The freshness table counts ingest errors; the SRE must also read which and why, newest first."""
    import time

    from collectors.model import INGEST_ERROR_SCHEMA, error_row, to_table
    from dashboard.read import INGEST_ERRORS_SHOWN

    db = tmp_path / "errors.duckdb"
    now_us = time.time_ns() // 1000
    lost = "orders/0: offsets 30–44 (15 records) were deleted from the topic before the tap read them"
    rows = [error_row("otlp-http", f"request {n}", f"span {n}: trace_id is not 16 bytes", b"x", now_us - 10_000_000 - n)
            for n in range(INGEST_ERRORS_SHOWN + 5)] + [error_row("kafka", "orders/0/30", lost, None, now_us)]
    with Store(db) as store:
        store.append({"ingest_errors": to_table(rows, INGEST_ERROR_SCHEMA)})
    monkeypatch.setenv("SEAMWATCH_DB", str(db))
    at = app.run()
    assert not at.exception and not at.error
    (box,) = [e for e in at.expander if e.label.startswith("Ingest errors")]
    assert box.label == (f"Ingest errors: what could not be stored or read, and why (the newest "
                         f"{INGEST_ERRORS_SHOWN} of {INGEST_ERRORS_SHOWN + 6}, newest first)")
    table = box.dataframe[0].value
    assert len(table) == INGEST_ERRORS_SHOWN
    assert list(table.iloc[0][["source", "location", "reason"]]) == ["kafka", "orders/0/30", lost]
    assert table.iloc[1]["reason"] == "span 0: trace_id is not 16 bytes"
