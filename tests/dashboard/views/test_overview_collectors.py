"""The Overview's collectors table, as `seamwatch up` wires it: each component's own status line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collectors.derive.component import Deriver
from collectors.otlp import OtlpConfig, OtlpReceiver
from collectors.runtime import Runtime
from collectors.store import Store, shared
from collectors.store.retention import Retention

# collectors in the dashboard's own process (seamwatch up) over a writable copy of the sample file
pytestmark = pytest.mark.file_only


def _collectors_table(at: AppTest) -> dict[str, str]:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Collectors in this process" in [h.value for h in at.subheader]
    table = at.dataframe[-1].value  # the last table of the page
    return dict(zip(table["collector"], table["status"], strict=True))


def _rows_while_serving(at: AppTest, store: Store, status, runtime: Runtime | None = None) -> dict[str, str]:
    """The collectors table while ``store`` is shared with ``status`` (and ``runtime`` runs), as
    `seamwatch up` does; afterwards the runtime stops and the store is unshared and closed."""
    shared.register(store)
    shared.set_status(store, status)
    if runtime is not None:
        runtime.start()
    try:
        return _collectors_table(at)
    finally:
        if runtime is not None:
            runtime.stop()
        shared.unregister(store)
        store.close()


@pytest.fixture
def live_copy(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the sample store (the session's stays untouched), shown by the app."""
    db = tmp_path / "live.duckdb"
    shutil.copy(sample_db, db)
    monkeypatch.setenv("SEAMWATCH_DB", str(db))
    return db


def test_each_collector_says_how_it_is_doing_in_its_own_words(app: AppTest, live_copy: Path) -> None:
    store = Store(live_copy).open()
    receiver = OtlpReceiver(store, OtlpConfig(http=("127.0.0.1", 0), grpc=None))
    runtime = Runtime([receiver, Deriver(store, every=60, quiet_for=timedelta(days=365)),
                       Retention(store, timedelta(days=3650), every=3600)])
    rows = _rows_while_serving(app, store, runtime.status, runtime)
    host, port = receiver.http_address
    assert set(rows) == {"otlp", "derive", "retention"}
    assert rows["otlp"].startswith(f"HTTP {host}:{port} · 0 requests, 0 spans accepted")
    assert rows["derive"].startswith("0 traces, 0 segments, 0 messages, 0 snapshots derived")
    assert rows["retention"].startswith("keeps 3650 d · ")
    for line in rows.values():  # units are spelled out, never raw epoch numbers or microseconds
        assert not any(w.isdigit() and len(w) >= 9 for w in line.replace(",", "").split()), line


def test_a_status_that_fails_is_one_line_not_a_broken_page(app: AppTest, live_copy: Path) -> None:
    store = Store(live_copy).open()

    def broken() -> dict:
        raise RuntimeError("the tap's lock is poisoned\nand more")

    rows = _rows_while_serving(app, store, broken)
    assert rows == {"status": "status unavailable: the tap's lock is poisoned"}


def test_the_alert_components_say_how_they_are_doing(app: AppTest, live_copy: Path) -> None:
    from dashboard.cli.alert_options import build_alerts

    store = Store(live_copy).open()
    deriver = Deriver(store, every=60, quiet_for=timedelta(days=365))
    alerts = build_alerts(store, {"metrics": "127.0.0.1:0", "notify": ["http://127.0.0.1:9/hook/secret"],
                                  "notify_min_severity": "error", "alert_window": "15m", "alert_interval": 600},
                          [deriver])
    runtime = Runtime([deriver, *alerts])
    rows = _rows_while_serving(app, store, runtime.status, runtime)
    assert [c.name for c in alerts] == ["findings", "notify", "metrics"]
    assert " open finding" in rows["findings"] and "over the last 15 min · 1 run" in rows["findings"]
    assert rows["notify"].startswith("1 receiver · 0 sent · ")
    assert "secret" not in rows["notify"]
    assert rows["metrics"].startswith("/metrics on 127.0.0.1:")
