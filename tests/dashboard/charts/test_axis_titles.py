"""Every chart names its axes, with the unit: a time axis says UTC, a count what it counts and per
how long, a category axis what its rows are."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from dashboard.charts.findings import findings_timeline
from dashboard.charts.latency import percentiles_over_time
from dashboard.charts.series import bars_over_time, lines_over_time
from dashboard.charts.status import status_strip
from dashboard.charts.theme import per_bucket
from dashboard.charts.timeline import processings_timeline

T0 = datetime(2026, 3, 2, 12)
_COUNTS = pd.DataFrame({"bucket": [T0, T0 + timedelta(minutes=1)], "n": [1, 3], "kind": ["a", "a"]})


def _titles(fig) -> dict[str, str | None]:
    """Each drawn axis (xaxis, yaxis, ...) → its title's text."""
    layout = fig.to_dict()["layout"]
    return {k: (v.get("title") or {}).get("text") for k, v in layout.items()
            if k.startswith(("xaxis", "yaxis")) and v.get("visible", True) and v.get("showticklabels", True)}


CHARTS = {
    "processings": lambda: processings_timeline(pd.DataFrame({
        "start_time": [T0, T0 + timedelta(seconds=12)], "instance": ["i-1", "i-2"], "failed": [False, True]})),
    "idempotency processings": lambda: processings_timeline(pd.DataFrame({
        "at": [T0, T0 + timedelta(seconds=2)], "instance": ["i-1", "i-1"], "had_effect": [True, True],
        "effect": ["wrote", "wrote"]}), at="at", failed="had_effect", label="effect"),
    "bars": lambda: bars_over_time(_COUNTS, x="bucket", y="n", color="kind", y_title="dead letters",
                                   bucket=timedelta(minutes=1)),
    "lines": lambda: lines_over_time(_COUNTS, x="bucket", y="n", color="kind", y_title="messages behind"),
    "status": lambda: status_strip(pd.DataFrame({"at": [T0], "group_id": ["g"], "status": ["WARN"],
                                                 "worst_partition_status": ["WARN"]})),
    "findings": lambda: findings_timeline(pd.DataFrame({
        "rule": ["CONSUMER_LAG"], "subject": ["g"], "severity": ["error"], "first_seen": [T0],
        "last_seen": [T0 + timedelta(minutes=5)], "count": [3]})),
    "latency": lambda: percentiles_over_time(pd.DataFrame({
        "bucket": [T0], "requests": [3], "p50_ms": [10.0], "p95_ms": [20.0], "p99_ms": [30.0]}), service="web"),
}


@pytest.mark.parametrize("name", list(CHARTS))
def test_every_axis_has_a_title(name: str) -> None:
    titles = _titles(CHARTS[name]())
    assert titles and all(titles.values()), titles
    assert "UTC" in titles["xaxis"], titles  # every one of these reads over time


def test_the_processing_scatter_names_its_rows_and_its_time() -> None:
    titles = _titles(CHARTS["processings"]())
    assert titles == {"xaxis": "processed at, time (UTC)", "yaxis": "consumer instance"}


def test_a_bar_says_how_long_its_bucket_is() -> None:
    assert _titles(CHARTS["bars"]())["yaxis"] == "dead letters per minute"
    assert per_bucket("records", timedelta(seconds=10)) == "records per 10 s"
    assert per_bucket("records", timedelta(minutes=5)) == "records per 5 min"
    assert per_bucket("records", timedelta(hours=1)) == "records per hour"
