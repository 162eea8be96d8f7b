"""Findings on a time axis: a bar from first to last seen per finding, coloured by severity."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.labels import esc_column
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import SEVERITY_COLOURS, TIME_TITLE, base_layout

MAX_ROWS = 40
MIN_SLIVER_MS = 1000.0  # the sliver when every finding was seen at one instant


def findings_timeline(df: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """``df``: rule, subject, severity, first_seen, last_seen, count — worst first."""
    d = df.dropna(subset=["first_seen"]).head(MAX_ROWS).copy()
    if d.empty:
        return empty_figure("No finding has a time in this range")
    d["last_seen"] = d["last_seen"].fillna(d["first_seen"])
    d["label"] = esc_column(d["rule"] + " · " + d["subject"].astype(str).str.slice(0, 40))
    d["y"] = [f"{i:02d}" for i in range(len(d))]
    # A finding seen once still gets a visible sliver: a hundredth of the time drawn (a fixed
    # width would stretch a short capture's findings past its end, and past what was seen).
    drawn = (pd.to_datetime(d["last_seen"]).max() - pd.to_datetime(d["first_seen"]).min()).total_seconds()
    sliver_ms = max(drawn * 10, MIN_SLIVER_MS)
    fig = go.Figure()
    for sev, colour in reversed(list(SEVERITY_COLOURS.items())):  # worst first in the legend
        part = d[d["severity"] == sev]
        if part.empty:
            continue
        start = pd.to_datetime(part["first_seen"])
        width = ((pd.to_datetime(part["last_seen"]) - start).dt.total_seconds() * 1000).clip(lower=sliver_ms)
        fig.add_trace(go.Bar(
            y=part["y"], x=width, base=start, orientation="h", name=sev, marker_color=colour,
            customdata=part[["label", "count"]],
            hovertemplate="%{customdata[0]}<br>%{base|%H:%M:%S} → count %{customdata[1]}<extra>" + sev + "</extra>",
        ))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=d["y"], ticktext=d["label"],
                     title="finding (rule · subject)", tickfont=dict(size=11))
    fig.update_xaxes(type="date", title=f"first to last seen, {TIME_TITLE}")
    fig.update_layout(barmode="overlay")
    fig = base_layout(fig, height=max(220, 22 * len(d) + 90), title=title)
    fig.update_layout(legend_traceorder="normal")  # bars reverse the legend by default: keep worst first
    return fig
