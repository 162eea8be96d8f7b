"""The waterfall, the latency chart and the service colours: what a reader sees on the axes and bars."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard.charts.colours import PALETTE, service_colour, service_colours
from dashboard.charts.latency import percentiles_over_time
from dashboard.charts.units import axis_unit, fmt_ms
from dashboard.charts.waterfall import waterfall

T0 = datetime(2026, 3, 2, 12)


def _spans(rows: list[tuple[str, str | None, str, float, float]]) -> pd.DataFrame:
    """(span id, parent, service, start s, duration ms) → trace_chain-shaped rows."""
    return pd.DataFrame([dict(span_id=s, parent_span_id=p, service=svc, name=f"op {s}", kind="SERVER",
                              start_time=T0 + timedelta(seconds=at), duration_ms=ms, error=s == "c", role="hop",
                              depth=0) for s, p, svc, at, ms in rows])


def test_a_service_keeps_its_colour_whatever_is_drawn_beside_it() -> None:
    alone = service_colours(["orders-api"])
    crowded = service_colours(["web-checkout", "orders-api", "email-service", "tax-api", "zz"])
    assert alone["orders-api"] == crowded["orders-api"] == service_colour("orders-api")
    assert service_colour("orders-api") in PALETTE
    assert len({service_colour(f"svc-{i}") for i in range(60)}) > len(PALETTE) // 2  # spread, not one colour


def test_waterfall_bars_carry_span_ids_and_service_colours_and_read_in_ms() -> None:
    spans = _spans([("a", None, "web", 0, 300), ("b", "a", "orders", 0.01, 200), ("c", "b", "tax", 0.02, 50)])
    fig = waterfall(spans, selected="b")
    by_name = {t.name: t for t in fig.data}
    assert by_name["orders"].marker.color == service_colour("orders")
    assert sorted(row[0] for t in fig.data for row in t.customdata) == ["a", "b", "c"]
    assert fig.layout.xaxis.title.text == "ms since the segment started"
    assert fig.layout.xaxis.tickformat.endswith("f"), "fixed-point ticks: no SI prefix such as 'k'"
    assert by_name["tax"].marker.line.color[0] != service_colour("tax"), "an error is outlined"
    assert by_name["orders"].marker.line.width[0] == 3, "the selected span stands out"
    # the rows are labelled in a column of their own, the y axis hidden: the column says what its rows are
    heading = [a for a in fig.layout.annotations if a.yref == "paper"]
    assert [a.text for a in heading] == ["span: service · name, under the span that called it"]


def test_waterfall_of_a_long_trace_reads_in_seconds_not_kilo_ms() -> None:
    spans = _spans([("a", None, "web", 0, 500), ("b", None, "email", 800, 200)])  # a consumer 800 s later
    fig = waterfall(spans, since="the trace started")
    assert fig.layout.xaxis.title.text == "s since the trace started"
    bases = sorted(b for t in fig.data for b in t.base)
    assert bases == [0, 800]  # seconds on the axis, not 800 000 ms
    assert fig.layout.xaxis.tickformat.endswith("f"), "fixed-point ticks: no SI prefix such as 'k'"
    hover = [row[4] for t in fig.data for row in t.customdata]
    assert "13.3 min" in hover


def test_units() -> None:
    assert axis_unit(1500)[0] == "ms" and axis_unit(2500)[:2] == ("s", 1000.0)
    assert [fmt_ms(v) for v in (0.5, 340, 1999, 2500, 95_000, 800_000)] == [
        "0.50 ms", "340 ms", "1,999 ms", "2.50 s", "95.00 s", "13.3 min"]


def test_latency_chart_draws_p50_p95_p99_in_the_services_colour() -> None:
    series = pd.DataFrame({"bucket": [T0, T0 + timedelta(minutes=1)], "requests": [10, 12],
                           "p50_ms": [80.0, 90.0], "p95_ms": [120.0, 900.0], "p99_ms": [150.0, 2400.0]})
    fig = percentiles_over_time(series, service="web-checkout", title="Latency of web-checkout POST /checkout")
    assert [t.name for t in fig.data] == ["p99", "p95", "p50"]
    assert {t.line.color for t in fig.data} == {service_colour("web-checkout")}
    assert fig.layout.yaxis.title.text == "latency (s)"  # p99 passed two seconds
    assert list(fig.data[0].y) == [0.15, 2.4]
    assert fig.data[1].customdata[1][0] == "900 ms"
    empty = percentiles_over_time(series.iloc[0:0], service="x")
    assert empty.layout.annotations[0].text == "No requests in this time range"


def test_declared_services_each_get_their_own_colour() -> None:
    from dashboard.charts import colours

    shop = [f"svc-{i:02d}" for i in range(14)]
    try:
        colours.declare(shop)
        assert len({service_colour(s) for s in shop}) == len(shop)
        assert service_colour("svc-03") == PALETTE[3]
        assert service_colour("not-declared") in PALETTE  # by its name's hash, still stable
    finally:
        colours.declare([])
    assert service_colour("svc-03") == service_colours(["svc-03"])["svc-03"]
