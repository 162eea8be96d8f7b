"""Latency percentiles over time: p50, p95 and p99 of one entry point, in its service's colour.

Input: rows of analyses.latency.latency_series (bucket, requests, p50_ms, p95_ms, p99_ms).
The three lines share the service's colour and differ in weight and dash, so the chart
reads as one service's latency; the axis is in ms, or in s once it passes two seconds.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.colours import service_colour
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import TIME_TITLE, base_layout
from dashboard.charts.units import axis_unit, fmt_ms

LINES = (("p99_ms", "p99", "dot", 1.5), ("p95_ms", "p95", "solid", 2.8), ("p50_ms", "p50", "dash", 1.5))


def percentiles_over_time(series: pd.DataFrame, *, service: str, title: str | None = None,
                          empty: str = "No requests in this time range", height: int = 320) -> go.Figure:
    if series.empty:
        return empty_figure(empty)
    series = series.sort_values("bucket")
    unit, div, tickformat = axis_unit(float(series["p99_ms"].max()))
    colour = service_colour(service)
    fig = go.Figure()
    for column, name, dash, width in LINES:
        fig.add_trace(go.Scatter(
            x=series["bucket"], y=series[column] / div, name=name, mode="lines+markers",
            line=dict(color=colour, dash=dash, width=width), marker=dict(size=4 if width < 2 else 6),
            customdata=list(zip(series[column].map(fmt_ms), series["requests"], strict=True)),
            hovertemplate=f"%{{x|%H:%M:%S}}<br>{name} %{{customdata[0]}} over %{{customdata[1]:,}} requests"
                          "<extra></extra>",
        ))
    fig.update_yaxes(title=f"latency ({unit})", tickformat=tickformat, rangemode="tozero")
    fig.update_xaxes(title=TIME_TITLE)
    base_layout(fig, height=height, title=title)
    fig.update_layout(hovermode="x unified")  # the three percentiles of one moment in one box
    return fig
