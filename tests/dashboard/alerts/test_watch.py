"""The findings watch: the rules over the last window, handed to every listener even when one fails."""

from __future__ import annotations

from datetime import timedelta

from dashboard.alerts.watch import FindingsWatch
from tests.support.builders import T0


def test_the_watch_hands_each_run_to_every_listener_even_when_one_fails(data, caplog) -> None:
    data.record("orders.DLT", 0, 0, at=10, headers=[("kafka_dlt-original-topic", "orders")])
    data.write()
    got = []

    def broken(report) -> None:
        raise OSError("No space left on device\nmore detail")

    watch = FindingsWatch(data.store, window=timedelta(minutes=15), clock=lambda: T0 + timedelta(minutes=1))
    watch.subscribe(broken)
    watch.subscribe(got.append)
    report = watch.run_once()
    assert report is not None and got == [report]
    assert [(f.rule, f.subject) for f in report.findings] == [("DEAD_LETTER", "orders.DLT")]
    assert "after the findings run: No space left on device" in caplog.text and "more detail" not in caplog.text
    status = watch.status()
    assert (status.runs, status.open, status.errors) == (1, 1, 0)
    assert status.describe(now=status.last_run_at).startswith("1 open finding over the last 15 min · 1 run")


def test_a_window_that_misses_the_data_sees_nothing(data) -> None:
    data.record("orders.DLT", 0, 0, at=10, headers=[("kafka_dlt-original-topic", "orders")])
    data.write()
    watch = FindingsWatch(data.store, window=timedelta(minutes=15), clock=lambda: T0 + timedelta(hours=1))
    assert watch.run_once().findings == []
