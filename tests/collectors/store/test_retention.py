"""--retain: old rows go, recent ones stay, and a reader's snapshot is not disturbed."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from collectors.errors import ConfigError
from collectors.model import SPAN_SCHEMA, to_table
from collectors.normalize.spans import span_row
from collectors.store.retention import Retention, parse_duration

NOW = datetime(2026, 3, 2, 12, 0)
EPOCH = datetime(1970, 1, 1)


def _span(i: int, at: datetime) -> dict:
    ns = int((at - EPOCH) / timedelta(microseconds=1)) * 1000
    return span_row(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", parent_span_id=None,
                    resource={"service.name": "a"}, scope=None, name="GET /x", kind=2, flags=0, start_ns=ns,
                    end_ns=ns + 1_000_000, status_code=0, status_message=None, attributes={}, events=[], links=[],
                    source="test")


def test_parse_duration() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    for bad in ("", "7", "0h", "-1d", "a week"):
        with pytest.raises(ConfigError, match="--retain must be a positive duration"):
            parse_duration(bad)


def test_old_rows_go_recent_rows_stay_and_readers_keep_their_snapshot(store) -> None:
    rows = [_span(i, NOW - timedelta(days=10, minutes=i)) for i in range(50)]
    rows += [_span(100 + i, NOW - timedelta(hours=1, minutes=i)) for i in range(20)]
    store.append({"spans": to_table(rows, SPAN_SCHEMA)})
    reader = store.cursor()
    reader.execute("BEGIN TRANSACTION")
    assert reader.execute("SELECT count(*) FROM spans").fetchone()[0] == 70
    deleted = Retention(store, timedelta(days=7)).run_once(now=NOW)
    assert deleted["spans"] == 50
    # The reader that started before the delete still sees what it saw: MVCC, no blocking.
    assert reader.execute("SELECT count(*) FROM spans").fetchone()[0] == 70
    reader.execute("COMMIT")
    assert store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0] == 20


def test_a_failure_without_a_message_is_reported_and_retention_keeps_running(store, monkeypatch) -> None:
    """An exception with an empty message (a bare OSError()) used to fail the handler itself
    (IndexError) and end the retention thread; it is reported by its type and the next run happens."""
    retention = Retention(store, timedelta(days=7), every=0.05)
    runs: list[int] = []

    def failing(now=None):
        runs.append(1)
        raise OSError()

    monkeypatch.setattr(retention, "run_once", failing)
    retention.start()
    try:
        deadline = time.monotonic() + 10
        while len(runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        retention.stop()
    assert len(runs) >= 3
    assert retention.status().error == "OSError"
