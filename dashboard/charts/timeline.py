"""One message's processings on a time axis, one row per consumer instance."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.labels import esc_column
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import OK_COLOUR, SEVERITY_COLOURS, TIME_TITLE, base_layout


def processings_timeline(df: pd.DataFrame, *, at: str = "start_time", who: str = "instance",
                         failed: str = "failed", label: str | None = None,
                         names: tuple[str, str] = ("succeeded", "failed"),
                         who_title: str = "consumer instance") -> go.Figure:
    """Points at each processing, numbered in order: red crosses where ``failed`` holds, else green."""
    if df.empty:
        return empty_figure("No processings of this message in the window")
    d = df.sort_values(at).reset_index(drop=True)
    d["nth"] = range(1, len(d) + 1)
    # Instances and outcomes are data: the axis and the hover draw them as HTML.
    d[who] = esc_column(d[who])
    if label:
        d[label] = esc_column(d[label])
    fig = go.Figure()
    for ok, part in ((True, d[~d[failed]]), (False, d[d[failed]])):
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part[at], y=part[who].fillna("unknown instance"), mode="markers+text", text=part["nth"].astype(str),
            textposition="top center", name=names[0] if ok else names[1],
            marker=dict(size=14, color=OK_COLOUR if ok else SEVERITY_COLOURS["error"], symbol="circle" if ok else "x"),
            hovertext=part[label] if label else None,
            hovertemplate="#%{text} at %{x|%H:%M:%S.%L}<br>%{y}" + ("<br>%{hovertext}" if label else "")
                          + "<extra>%{fullData.name}</extra>",
        ))
    rows = d[who].nunique()
    # Room above the top row for its numbers, and beside the ends for the markers.
    fig.update_yaxes(title=who_title, type="category", range=[-0.6, rows - 0.3])
    pad = max((d[at].max() - d[at].min()) * 0.05, pd.Timedelta(seconds=1))
    fig.update_xaxes(title=f"processed at, {TIME_TITLE}", range=[d[at].min() - pad, d[at].max() + pad])
    return base_layout(fig, height=max(200, 70 * rows + 110))
