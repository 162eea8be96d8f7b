"""PRODUCER_CLOCK_SKEW: a producer whose clock is wrong stamps records that time lag, windows and
charts then misread. Found by when the tap read them, since their own timestamps are out of the window."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.analyses.clock_skew import skewed_records
from tests.support.rules import rule_findings

TOPIC = "rides.requested"


def test_a_record_stamped_by_a_wrong_clock_is_found_and_right_ones_are_not(data, store, window):
    for offset, at in enumerate((10, 11, 12)):
        data.record(TOPIC, 0, offset, at=at, key=f"ride-{offset}")
    data.record(TOPIC, 0, 3, at=13, key="ride-past")
    data.stamp(datetime(1971, 1, 1))  # a host whose clock reset to its battery's idea of time
    data.record(TOPIC, 0, 4, at=14, key="ride-4")  # right again: not behind the 1971 record's neighbours
    data.record(TOPIC, 0, 5, at=15, key="ride-ahead")
    data.stamp(data.at(15) + timedelta(hours=3))  # three hours in the future
    data.record(TOPIC, 0, 6, at=16, key="ride-6")  # right: not "behind" the future record
    # a backlog read at once, produced two days before in order: nothing wrong with its clocks
    for offset in range(3):
        data.record(TOPIC, 1, offset, at=20, key=f"old-{offset}")
        data.stamp(data.at(20) - timedelta(days=2) + timedelta(seconds=offset))
    # a stream app's output, 30 minutes out of order: within what a person shrugs at
    data.record("streams.out", 0, 0, at=30)
    data.record("streams.out", 0, 1, at=31)
    data.stamp(data.at(31) - timedelta(minutes=30))
    # stamped by the broker (LogAppendTime): the producer's clock does not come into it
    data.record("audit.log", 0, 0, at=40)
    data.record("audit.log", 0, 1, at=41)
    data.stamp(datetime(1971, 1, 1))
    data.records[-1]["timestamp_type"] = "log_append"
    data.write()
    cur = store.cursor()

    found = skewed_records(cur, window)
    assert list(zip(found["topic"], found["offset"], found["clock"], strict=True)) == [
        (TOPIC, 3, "behind"), (TOPIC, 5, "ahead")]
    assert found["off_by"].max() > timedelta(days=365 * 55)

    (f,) = rule_findings(cur, window, None, "PRODUCER_CLOCK_SKEW")
    assert (f.subject, f.count, f.severity) == (TOPIC, 2, "warning")
    assert f.summary == (f"2 records on {TOPIC} carry a producer timestamp more than 1 h off (1 stamped after the "
                         "tap read them and 1 behind the records before them, by up to 55.2 years): time lag and "
                         "time windows read it")
    assert [r["record"] for r in f.evidence["records"]] == [f"{TOPIC}/0/3", f"{TOPIC}/0/5"]
    assert [r["off_by"] for r in f.evidence["records"]][1] == 3.0
