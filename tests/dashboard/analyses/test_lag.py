"""Event lag (docs/architecture.md#event-lag): trace pairing in order, signed lag, offset lag and time lag."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard.analyses import lag


def _lag_rows(store):
    return store.cursor().execute(
        "SELECT consumer_span_id, link_index, producer_span_id, pairing, lag_e2e_us, lag_broker_us, clock_skew, "
        "\"offset\" FROM message_lag ORDER BY consumer_span_id, link_index").df()


def test_pairing_follows_design_order(data, store):
    producer_trace = data.trace_id()
    root = data.span(producer_trace, "orders", "server", "POST /orders", at=0, dur=1)
    p_link = data.produce(producer_trace, "orders", "shop.orders", at=0.1, parent=root, partition=0, offset=1)
    p_parent = data.produce(producer_trace, "orders", "shop.orders", at=0.2, parent=root)
    p_header = data.produce(producer_trace, "orders", "shop.orders", at=0.3, parent=root)
    p_offset = data.produce(producer_trace, "orders", "shop.orders", at=0.4, parent=root, partition=0, offset=4)
    data.record("shop.orders", 0, 3, at=0.31, trace=(producer_trace, p_header))

    # 1: a link wins even when the (topic, partition, offset) would point elsewhere
    by_link = data.process(data.trace_id(), "email", "email", "shop.orders", 0, 4, at=2,
                           links=[(producer_trace, p_link)])
    # 2: the parent is the producer span (kafka-python, aiokafka)
    by_parent = data.process(producer_trace, "email", "email", "shop.orders", 0, 2, at=2.2, parent=p_parent)
    # 3: the record's traceparent names the producer span
    by_header = data.process(data.trace_id(), "email", "email", "shop.orders", 0, 3, at=2.3)
    # 4: only the coordinates match
    by_offset = data.process(data.trace_id(), "email", "email", "shop.orders", 0, 4, at=2.4)
    unpaired = data.process(data.trace_id(), "email", "email", "shop.orders", 0, 99, at=2.5)
    data.write()

    rows = _lag_rows(store).set_index("consumer_span_id")
    assert rows.loc[by_link, "pairing"] == "link" and rows.loc[by_link, "producer_span_id"] == p_link
    assert rows.loc[by_parent, "pairing"] == "parent" and rows.loc[by_parent, "producer_span_id"] == p_parent
    assert rows.loc[by_header, "pairing"] == "traceparent" and rows.loc[by_header, "producer_span_id"] == p_header
    assert rows.loc[by_offset, "pairing"] == "offset" and rows.loc[by_offset, "producer_span_id"] == p_offset
    assert pd.isna(rows.loc[unpaired, "pairing"]) and pd.isna(rows.loc[unpaired, "lag_e2e_us"])
    assert rows.loc[by_link, "lag_e2e_us"] == 1_900_000
    assert rows.loc[by_header, "lag_broker_us"] == 1_990_000


def test_batch_consumer_span_pairs_each_link(data, store, window):
    pt = data.trace_id()
    root = data.span(pt, "orders", "server", "POST /orders", at=0, dur=1)
    sends = [data.produce(pt, "orders", "shop.orders", at=0.1 * i, parent=root) for i in range(3)]
    links = [(pt, s, {"messaging.kafka.offset": 10 + i, "messaging.destination.partition.id": "1"})
             for i, s in enumerate(sends)]
    batch = data.process(data.trace_id(), "analytics", "analytics", "shop.orders", at=5, links=links)
    data.write()

    rows = _lag_rows(store)
    assert len(rows) == 3
    assert set(rows["consumer_span_id"]) == {batch}
    assert rows["producer_span_id"].tolist() == sends
    assert rows["pairing"].tolist() == ["link"] * 3
    assert rows["offset"].tolist() == [10, 11, 12]
    assert rows["lag_e2e_us"].tolist() == [5_000_000, 4_900_000, 4_800_000]
    summary = lag.trace_lag_summary(store.cursor(), window)
    assert summary[["consumer_group", "messages", "paired"]].values.tolist() == [["analytics", 3, 3]]


def test_negative_lag_is_kept_signed_and_flagged_as_clock_skew(data, store, window):
    pt = data.trace_id()
    send = data.produce(pt, "orders", "shop.orders", at=10, partition=0, offset=5)
    data.record("shop.orders", 0, 5, at=10.2, trace=(pt, send))
    # the consumer's clock runs 3 s behind the producer's
    data.process(data.trace_id(), "email", "email", "shop.orders", 0, 5, at=7, links=[(pt, send)])
    data.write()

    row = _lag_rows(store).iloc[0]
    assert row["lag_e2e_us"] == -3_000_000
    assert row["lag_broker_us"] == -3_200_000
    assert bool(row["clock_skew"]) is True
    skewed = lag.lagged_messages(store.cursor(), window, skew_only=True)
    assert len(skewed) == 1
    over_time = lag.trace_lag(store.cursor(), window, bucket=timedelta(minutes=1))
    assert over_time["clock_skew"].sum() == 1 and over_time["p50_ms"].iloc[0] == -3000


def test_offset_lag_is_high_watermark_minus_committed(data, store, window):
    data.poll("g", "t", 0, 40, at=0, high_watermark=100)
    data.poll("g", "t", 0, 90, at=5, high_watermark=100)
    data.poll("g", "t", 1, 10, at=5, high_watermark=10)
    data.write()
    latest = lag.offset_lag_latest(store.cursor(), window)
    assert latest[["partition", "offset_lag"]].values.tolist() == [[0, 10], [1, 0]]
    assert lag.offset_lag(store.cursor(), window, bucket=timedelta(seconds=1))["offset_lag"].tolist() == [60, 10, 0]


def test_time_lag_interpolates_keeps_flat_stretches_and_extrapolates(data, store, window):
    # the end of partition 0: 100 @ 0 s, 200 from 10 s to 30 s (a flat stretch), 300 @ 40 s;
    # a point going backwards is ignored, as Kafka Lag Exporter does
    for sec, off in [(0, 100), (10, 200), (20, 200), (30, 200), (40, 300), (45, 250)]:
        data.end_offset("t", 0, off, at=sec)
    for group, committed in [("a", 150), ("b", 200), ("c", 250), ("d", 50), ("e", 300)]:
        data.poll(group, "t", 0, committed, at=50, high_watermark=300)
    data.write()
    rows = lag.time_lag(store.cursor(), window, bucket=timedelta(seconds=1)).set_index("group_id")
    assert rows["method"].to_dict() == {"a": "interpolated", "b": "interpolated", "c": "interpolated",
                                        "d": "extrapolated", "e": "caught_up"}
    # 150: halfway from 100 @ 0 s to 200 @ 10 s; 200: the last time the end stood there (30 s);
    # 250: halfway from 200 @ 30 s to 300 @ 40 s
    assert rows.loc[["a", "b", "c"], "time_lag_s"].tolist() == [45.0, 20.0, 15.0]
    # older than every point: along the whole table, 100 @ 0 s to 300 @ 50 s (the poll's own point)
    assert rows.loc["d", "time_lag_s"] == pytest.approx(50 + 50 * 50 / 200)
    assert rows.loc["e", "time_lag_s"] == 0.0


def test_time_lag_methods(data, store, window):
    # end offsets of partition 0 grow 10 per second from 0 at T0
    for s in range(0, 61, 10):
        data.end_offset("shop.orders", 0, s * 10, at=s)
    data.record("shop.orders", 0, 450, at=45)  # the tap holds the record at one committed offset
    data.poll("g", "shop.orders", 0, 450, at=60, high_watermark=600)  # exact: 60 − 45
    data.poll("g", "shop.orders", 0, 300, at=61, high_watermark=600)  # interpolated: reached 300 at 30 s
    data.poll("g", "shop.orders", 0, 600, at=62, high_watermark=600)  # caught up
    data.write()

    rows = lag.time_lag(store.cursor(), window, bucket=timedelta(seconds=1))
    assert rows[["method", "time_lag_s"]].values.tolist() == [
        ["exact", 15.0], ["interpolated", 31.0], ["caught_up", 0.0]]
    latest = lag.time_lag_latest(store.cursor(), window)
    assert latest["method"].tolist() == ["caught_up"]


def test_a_record_whose_producer_clock_is_off_gets_the_estimate_not_its_clock(data, store, window):
    """The exact method reads the record's CreateTime: a producer clock 90 minutes behind (or a
    republisher keeping its input's time) made a 15 s lag read 5415 s. Beyond CLOCK_SKEW of when
    the end offset passed the record, the table's estimate is used; within it, the record's time."""
    for s in range(0, 61, 10):
        data.end_offset("shop.orders", 0, s * 10, at=s)
    data.record("shop.orders", 0, 450, at=45 - 90 * 60)  # appended between 40 s and 50 s
    data.record("shop.orders", 0, 300, at=30 - 50 * 60)  # 50 minutes behind: drift, still its own time
    data.record("shop.orders", 0, 200, at=20 + 90 * 60)  # 90 minutes ahead
    data.poll("g", "shop.orders", 0, 450, at=60, high_watermark=600)
    data.poll("g", "shop.orders", 0, 300, at=61, high_watermark=600)
    data.poll("g", "shop.orders", 0, 200, at=62, high_watermark=600)
    data.write()
    rows = lag.time_lag(store.cursor(), window, bucket=timedelta(seconds=1))
    assert rows[["method", "time_lag_s"]].values.tolist() == [
        ["interpolated", 15.0], ["exact", 31.0 + 50 * 60], ["interpolated", 42.0]]


def test_a_backlog_record_behind_the_one_before_it_gets_the_estimate(data, store, window):
    """Records produced before the collector started: no end offset was seen before them, so only
    their neighbours tell a clock 90 minutes behind (the time lag read 5439 s on a real broker)
    from a backlog that really is 90 minutes old (its time lag is the record's)."""
    for off in range(10, 20):  # a live partition, read at 300 s: one scan 90 minutes behind at 15
        data.record("parcels", 0, off, at=200 + off - (90 * 60 if off == 15 else 0), tapped=300)
    for off in range(10, 20):  # a backlog from 90 minutes ago, read at 300 s
        data.record("old", 0, off, at=200 + off - 90 * 60, tapped=300)
    for topic in ("parcels", "old"):
        data.end_offset(topic, 0, 20, at=300)
        data.end_offset(topic, 0, 20, at=310)
        data.poll("g", topic, 0, 15, at=310, high_watermark=20)
    data.record("ahead", 0, 5, at=300 + 90 * 60, tapped=300)  # read at 300 s, stamped 90 minutes later
    data.end_offset("ahead", 0, 6, at=300)
    data.poll("g", "ahead", 0, 5, at=310, high_watermark=6)
    data.write()
    rows = lag.time_lag(store.cursor(), window, bucket=timedelta(seconds=1)).set_index("topic")
    assert rows.loc["old", ["method", "time_lag_s"]].tolist() == ["exact", 310 - 215 + 90 * 60]
    assert rows.loc["parcels", "method"] != "exact" and rows.loc["ahead", "method"] != "exact"


def test_time_lag_committed_offset_older_than_the_table(data, store, window):
    for s, off in [(100, 1000), (110, 1100), (120, 1100), (130, 1200)]:
        data.end_offset("t", 0, off, at=s)
    data.poll("g", "t", 0, 900, at=131, high_watermark=1200)
    data.write()
    rows = lag.time_lag(store.cursor(), window, bucket=timedelta(seconds=1))
    # the poll's own high watermark is a point too: 200 offsets from 100 s to 131 s, so the
    # end stood at 900 at 131 − 300 × 31 / 200 = 84.5 s
    assert rows["method"].tolist() == ["extrapolated"]
    assert rows["time_lag_s"].tolist() == [pytest.approx(46.5)]
