"""Issue 10, case 20: plotly draws its labels as HTML, so names from the data must be escaped.

A service named ``<a href=…>`` was a working external link in the waterfall, and a
``<span style="font-size:80px">`` blew its text up. Every figure the dashboard builds is
checked string by string: the raw tags never reach plotly, their escaped text does (plotly
decodes ``&lt;`` back to ``<``, so the name reads as written).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard.charts.findings import findings_timeline
from dashboard.charts.series import bars_over_time, lines_over_time
from dashboard.charts.status import status_strip
from dashboard.charts.timeline import processings_timeline
from dashboard.charts.topology import topology_figure
from dashboard.charts.waterfall import waterfall
from dashboard.pages_registry import PAGES
from tests.support.apptest import app_over
from tests.support.hostile_store import EVIL

LINK = f'<a href="https://{EVIL}/x">click</a>'
BIG = '<span style="font-size:80px">BIG</span>'
NAME = f"svc{LINK}{BIG}"
ESCAPED = "svc&lt;a href=\"https://evil.example/x\"&gt;click&lt;/a&gt;&lt;span style=\"font-size:80px\"&gt;BIG&lt;/span&gt;"
T = datetime(2026, 3, 2, 12, 0)


def strings(value: Any) -> list[str]:
    """Every string of a figure's JSON: names, tick texts, hover texts, annotations, titles, data."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def assert_inert(fig: go.Figure | dict, *, shows: str | None = ESCAPED) -> None:
    spec = fig if isinstance(fig, dict) else json.loads(fig.to_json())
    texts = strings(spec)
    raw = [t for t in texts if "<a " in t or '<span style="' in t or "<b>b</b>" in t]
    assert not raw, f"HTML from the data reaches plotly: {raw[:3]}"
    if shows is not None:
        assert any(shows in t for t in texts), "the name is shown, escaped"


def test_waterfall_escapes_service_and_span_names() -> None:
    spans = pd.DataFrame([
        dict(span_id="a", parent_span_id=None, service=NAME, name=f"GET {LINK}", kind="SERVER",
             start_time=T, duration_ms=12.0, error=False, role="hop", depth=1),
        dict(span_id="b", parent_span_id="a", service="db", name=BIG, kind="CLIENT",
             start_time=T + timedelta(milliseconds=2), duration_ms=5.0, error=True, role=None, depth=1),
    ])
    assert_inert(waterfall(spans, highlight={"a"}))


def test_topology_escapes_node_names_and_details() -> None:
    nodes = pd.DataFrame([
        dict(id=f"service:{NAME}", kind="service", name=NAME, detail=BIG, severity="error", declared=False,
             observed=True),
        dict(id="topic:t", kind="topic", name=f"t{LINK}", detail="", severity=None, declared=True, observed=True),
    ])
    edges = pd.DataFrame([dict(src=f"service:{NAME}", dst="topic:t", kind="async", volume=3, severity=None,
                               declared=False, observed=True)])
    fig = topology_figure(nodes, edges)
    assert_inert(fig)
    labels = [a["text"] for a in json.loads(fig.to_json())["layout"]["annotations"]]
    assert any(label.startswith("<b>") for label in labels), "Seamwatch's own bold label stays markup"


def test_series_escape_legend_names_and_titles() -> None:
    df = pd.DataFrame({"bucket": [T, T], "count": [3, 4], "series": [NAME, "plain"]})
    assert_inert(bars_over_time(df, x="bucket", y="count", color="series", y_title="n", title=f"per {NAME}"))
    assert_inert(lines_over_time(df, x="bucket", y="count", color="series", y_title="n"))


def test_status_strip_and_timelines_escape_their_categories() -> None:
    status = pd.DataFrame({"at": [T], "group_id": [NAME], "status": ["ERR"], "worst_partition_status": [BIG],
                           "lag": [5]})
    assert_inert(status_strip(status))
    procs = pd.DataFrame({"start_time": [T, T + timedelta(seconds=1)], "instance": [NAME, "i-2"],
                          "failed": [False, True], "what": ["ok", LINK]})
    assert_inert(processings_timeline(procs, label="what"))
    found = pd.DataFrame({"rule": ["DEAD_LETTER"], "subject": [NAME], "severity": ["error"],
                          "first_seen": [T], "last_seen": [T], "count": [1]})
    assert_inert(findings_timeline(found), shows="svc&lt;a href")


@pytest.mark.parametrize("slug", [p[3] for p in PAGES])
def test_every_chart_of_every_page_is_inert(hostile_db: Path, monkeypatch: pytest.MonkeyPatch, slug: str) -> None:
    """The figures the pages really draw over the hostile store (payments-api carries <a> and <span style>)."""
    with app_over(hostile_db, monkeypatch, timeout=90) as at:
        at.query_params["range"] = "all"
        at.run()
        if slug != PAGES[0][3]:
            at.switch_page(next(p for p, _, _, s, _ in PAGES if s == slug)).run()
        assert not at.exception, [e.value for e in at.exception]
        charts = at.get("plotly_chart")
        assert charts, f"{slug} draws at least one chart"
        for chart in charts:
            assert_inert(json.loads(chart.proto.spec), shows=None)
        if slug == "overview":  # the topology draws every observed service
            assert any("payments-api&lt;a href" in s for c in charts for s in strings(json.loads(c.proto.spec)))
