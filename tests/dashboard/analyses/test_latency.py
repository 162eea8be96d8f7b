"""Latency over time and the slowest requests per entry point, on hand-built traces and on the sample shop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.store import Store
from dashboard.analyses import latency
from dashboard.analyses.window import Window
from sample_topology.incidents import Times
from sample_topology.ops import SEC
from tests.support.golden import GOLDEN_START


def _checkout(data, at: float, dur: float, *, email: bool = False) -> str:
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=at, dur=dur)
    data.call(t, "web", "orders", "/orders", at=at + 0.01, parent=root, dur=dur / 4)
    if email:
        data.call(t, "web", "email", "/emails", at=at + dur / 2, parent=root, dur=dur / 2 - 0.01, method="POST")
    return t


def test_percentiles_per_bucket_follow_the_slow_minute(data, store, window) -> None:
    # Minute 0: ten requests of 100 ms. Minute 1: ten of 100 ms and one of 2 s.
    for i in range(10):
        _checkout(data, at=i, dur=0.1)
        _checkout(data, at=60 + i, dur=0.1)
    _checkout(data, at=70, dur=2.0, email=True)
    data.write()

    s = latency.latency_series(store.cursor(), window, bucket=timedelta(minutes=1), service="web")
    s = s.set_index("bucket")
    first, second = s.loc[data.at(0)], s.loc[data.at(60)]
    assert (first["requests"], second["requests"]) == (10, 11)
    assert first["p50_ms"] == pytest.approx(100) and first["p99_ms"] == pytest.approx(100)
    assert second["p50_ms"] == pytest.approx(100)
    assert second["max_ms"] == pytest.approx(2000)
    # quantile_cont interpolates: p95 of 10×100 and 1×2000 is halfway between them
    assert second["p95_ms"] == pytest.approx(1050)
    assert second["p99_ms"] > second["p95_ms"] > first["p95_ms"]
    # the hops to orders and email sit inside the request's segment: no entries of their own
    assert set(s["entry_operation"]) == {"POST /checkout"}


def test_slowest_requests_carry_duration_depth_services_and_segment(data, store, window) -> None:
    fast = [_checkout(data, at=i, dur=0.1) for i in range(5)]
    slow = _checkout(data, at=30, dur=1.5, email=True)
    t = data.trace_id()  # a consumer segment: not a checkout, listed only when asked for all entries
    data.process(t, "analytics", "analytics", "shop.orders", 0, 1, at=40, dur=3.0)
    data.write()

    top = latency.slowest(store.cursor(), window, service="web", operation="POST /checkout", limit=3)
    assert list(top["trace_id"])[0] == slow and len(top) == 3
    row = top.iloc[0]
    assert row["duration_ms"] == pytest.approx(1500)
    assert row["depth"] == 1
    assert list(row["services"]) == ["email", "orders", "web"]
    assert set(top["trace_id"][1:]) <= set(fast)
    everything = latency.slowest(store.cursor(), window, limit=1)
    assert everything.iloc[0]["entry_service"] == "analytics"  # 3 s beats the 1.5 s request
    # the segment to open is the consumer's entry span
    assert everything.iloc[0]["segment_span_id"] == store.cursor().execute(
        "SELECT span_id FROM spans WHERE service = 'analytics'").fetchone()[0]


def test_entry_points_list_user_requests_first_slowest_first(data, store, window) -> None:
    _checkout(data, at=0, dur=0.1)
    t = data.trace_id()
    data.span(t, "web", "server", "GET /cart", at=1, dur=0.5)
    t = data.trace_id()
    data.process(t, "analytics", "analytics", "shop.orders", 0, 1, at=2, dur=3.0)
    data.write()

    entries = latency.entry_points(store.cursor(), window)
    assert list(entries["entry_operation"]) == ["GET /cart", "POST /checkout", "process shop.orders"]
    assert latency.entry_points(store.cursor(), Window(data.at(600), data.at(700))).empty


def test_the_sample_shops_synchronous_email_makes_checkout_slow(golden_shop) -> None:
    """The incident the latency chart must show: while web-checkout waits on email-service, the
    checkout's p95 rises, and the slowest checkouts of that time call email-service."""
    times = Times.for_duration(30 * 60 * SEC)
    email_from = GOLDEN_START + timedelta(microseconds=times.sync_email_from)
    email_to = GOLDEN_START + timedelta(microseconds=times.sync_email_to)
    with Store(golden_shop.db, read_only=True) as store:
        cur = store.cursor()
        w = Window.everything(cur)
        s = latency.latency_series(cur, w, service="web-checkout", operation="POST /checkout",
                                   bucket=timedelta(minutes=1))
        # whole minutes inside the incident, and every minute wholly outside it
        during = s[(s["bucket"] >= email_from) & (s["bucket"] + timedelta(minutes=1) <= email_to)]
        outside = s[(s["bucket"] + timedelta(minutes=1) <= email_from) | (s["bucket"] >= email_to)]
        assert len(during) >= 2 and len(outside) >= 10
        assert during["p95_ms"].min() > 1.5 * outside["p95_ms"].max(), (outside["p95_ms"], during["p95_ms"])
        top = latency.slowest(cur, w, service="web-checkout", operation="POST /checkout", limit=10)
        assert all("email-service" in list(services) for services in top["services"])
        assert top["start_time"].between(email_from, email_to).all()


def test_sync_edges_carry_calls_per_minute_and_p95(data, store) -> None:
    from dashboard.analyses import service_graph

    for i in range(20):  # 19 fast calls and one slow one, in a ten-minute window
        t = data.trace_id()
        root = data.span(t, "web", "server", "POST /checkout", at=i * 10, dur=1)
        data.call(t, "web", "orders", "/orders", at=i * 10, parent=root, dur=2.0 if i == 7 else 0.1)
    data.write()

    w = Window(data.at(0), data.at(600))
    edges = service_graph.sync_edges(store.cursor(), w).set_index(["caller", "callee"])
    row = edges.loc[("web", "orders")]
    assert row["calls"] == 20
    assert row["per_min"] == pytest.approx(2.0)
    assert row["p95_ms"] == pytest.approx(100 + 0.05 * 1900)  # interpolated between 100 ms and 2 s
