"""The store's extent ("All data", `seamwatch findings` without --since): a record stamped by a wrong
producer clock (PRODUCER_CLOCK_SKEW) does not stretch it; a backlog, imported or read from its start,
does belong to it."""

from __future__ import annotations

from datetime import datetime, timedelta

from collectors.derive.consumer import CLOCK_SKEW
from dashboard.analyses import window as window_module
from dashboard.analyses.window import Window

TOPIC = "rides.requested"


def test_the_skew_is_the_rules() -> None:
    assert window_module._SKEW == CLOCK_SKEW


def test_a_wrong_clock_does_not_stretch_the_extent_and_a_backlog_does(data, store) -> None:
    for offset, at in enumerate((10, 11, 12)):
        data.record(TOPIC, 0, offset, at=at)
    data.record(TOPIC, 0, 3, at=13)
    data.stamp(datetime(1971, 1, 1))  # a host whose clock reset
    data.record(TOPIC, 0, 4, at=14)
    data.record(TOPIC, 0, 5, at=15)
    data.stamp(data.at(15) + timedelta(days=365))  # a year ahead of the tap
    data.record(TOPIC, 0, 6, at=16)
    data.write()
    assert Window.extent(store.cursor()) == Window(data.at(10), data.at(16) + timedelta(microseconds=1))

    # a backlog produced two days before the tap read it, in order: its records are the data's start
    for offset in range(3):
        data.record(TOPIC, 1, offset, at=20)
        data.stamp(data.at(20) - timedelta(days=2) + timedelta(seconds=offset))
    # stamped by the broker: never off (as PRODUCER_CLOCK_SKEW judges it), so it counts
    data.record("audit.log", 0, 0, at=40)
    data.records[-1]["timestamp_type"] = "log_append"
    data.write()
    assert Window.extent(store.cursor()) == Window(data.at(20) - timedelta(days=2), data.at(40) + timedelta(microseconds=1))


def test_only_records_ahead_still_have_an_extent(data, store) -> None:
    data.record(TOPIC, 0, 0, at=10)
    data.stamp(data.at(10) + timedelta(days=3))
    data.write()
    extent = Window.extent(store.cursor())
    assert extent is not None and extent.start == data.at(10) + timedelta(days=3)


def test_an_empty_store_has_none(store) -> None:
    assert Window.extent(store.cursor()) is None
