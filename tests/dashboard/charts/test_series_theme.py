"""Charts follow the dashboard's theme (no white boxes on a dark page) and count in whole numbers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard.charts.series import bars_over_time, empty_figure, lines_over_time


def _counts(top: int) -> pd.DataFrame:
    t = datetime(2026, 3, 2, 12)
    return pd.DataFrame({"bucket": [t, t + timedelta(minutes=1)], "n": [1, top], "kind": ["a", "a"]})


def test_count_axes_are_whole_numbers() -> None:
    small = bars_over_time(_counts(2), x="bucket", y="n", color="kind", y_title="dead letters")
    assert small.layout.yaxis.tickformat == ",d" and small.layout.yaxis.dtick == 1
    big = bars_over_time(_counts(12_000), x="bucket", y="n", color="kind", y_title="dead letters")
    assert big.layout.yaxis.tickformat == ",d" and big.layout.yaxis.dtick is None
    line = lines_over_time(_counts(3), x="bucket", y="n", color="kind", y_title="messages behind", integer=True)
    assert line.layout.yaxis.tickformat == ",d"


def test_charts_have_no_white_background() -> None:
    for fig in (bars_over_time(_counts(3), x="bucket", y="n", y_title="n"), empty_figure("nothing"),
                lines_over_time(_counts(3), x="bucket", y="n", y_title="n")):
        for colour in (fig.layout.plot_bgcolor, fig.layout.paper_bgcolor):
            assert colour not in (None, "white", "#fff", "#ffffff"), colour
        assert fig.layout.yaxis.gridcolor in (None, "rgba(128,128,128,0.22)")


def test_a_lone_bar_covers_its_bucket() -> None:
    """One dead letter in a short capture: the bar spans its 1-s bucket from the bucket's start
    (Plotly alone gave it a millisecond and zoomed the axis to 18:29:20.9996–18:29:21.0004)."""
    one = pd.DataFrame({"bucket": [datetime(2026, 3, 2, 12, 0, 21)], "n": [1], "kind": ["shop.orders"]})
    fig = bars_over_time(one, x="bucket", y="n", color="kind", y_title="dead letters", bucket=timedelta(seconds=1))
    assert [(t.width, t.offset) for t in fig.data] == [(1000, 0)]
    assert "%H:%M:%S" in fig.data[0].hovertemplate  # a 1-s bucket is told to the second


def test_a_lone_point_is_shown_in_a_period_not_a_millisecond() -> None:
    """One bucket of end-to-end lag: Plotly alone zoomed the axis to 22:02:48.999–22:02:49.001.
    The window given is the axis; without one, a minute either side of the point."""
    at = datetime(2026, 3, 2, 12, 0, 49)
    one = pd.DataFrame({"bucket": [at], "p95_s": [1.1], "topic": ["rides.requested"]})
    window = (datetime(2026, 3, 2, 11, 0), datetime(2026, 3, 2, 12, 1))
    fig = lines_over_time(one, x="bucket", y="p95_s", color="topic", y_title="p95 (s)", x_range=window)
    assert [pd.Timestamp(v) for v in fig.layout.xaxis.range] == [pd.Timestamp(t) for t in window]
    fig = lines_over_time(one, x="bucket", y="p95_s", color="topic", y_title="p95 (s)")
    low, high = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert (low, high) == (pd.Timestamp(at) - timedelta(minutes=1), pd.Timestamp(at) + timedelta(minutes=1))
    two = pd.DataFrame({"bucket": [at, at + timedelta(seconds=5)], "p95_s": [1.1, 1.3], "topic": ["t", "t"]})
    assert lines_over_time(two, x="bucket", y="p95_s", color="topic", y_title="p95 (s)").layout.xaxis.range is None
