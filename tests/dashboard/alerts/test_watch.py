"""The findings watch: the rules over the last window, handed to every listener even when one fails,
and a lake that is away said once, not once per rule and run."""

from __future__ import annotations

import logging
from datetime import timedelta

import duckdb

from dashboard.alerts.watch import FindingsWatch
from dashboard.findings import engine
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


class _Lake:
    """A lake's store as the watch sees it: its location, and a cursor the rules do not get to read."""

    path = "ducklake:postgres:dbname=seamwatch host=db1"

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect().cursor()


def test_a_lake_away_is_said_once_for_every_rule_and_run_and_its_return_once(monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    away = True
    unreachable = ("IO Error: Could not connect to server error for HTTP GET to 'http://127.0.0.1:9/seamwatch/"
                   "lake/main/records/year%3D2026/month%3D12/ducklake-0193.parquet'")

    def evaluate(con, window, *, on_failure, **_) -> engine.Report:  # every rule reads the lake's records
        report = engine.Report(window)
        for rule in ("DUPLICATE_PUBLISH", "OUT_OF_ORDER_PROCESSING") if away else ():
            on_failure(rule, duckdb.IOException(unreachable))
            report.errors[rule] = unreachable
        return report

    monkeypatch.setattr(engine, "evaluate", evaluate)
    watch = FindingsWatch(_Lake(), every=1.0)  # type: ignore[arg-type]
    for _ in range(3):
        assert watch.run_once().errors
    away = False
    assert not watch.run_once().errors
    assert not watch.run_once().errors
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == ["the findings watch failed, trying again every 1 s: the lake's data path "
                    "(s3://seamwatch/lake/main/records/) cannot be reached: Could not connect to server",
                    "the findings watch works again"]
