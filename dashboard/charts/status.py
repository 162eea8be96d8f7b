"""Burrow status over time: one row per consumer group, a coloured cell per poll."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.labels import esc_column
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import STATUS_COLOURS, TIME_TITLE, base_layout

ORDER = ("OK", "WARN", "ERR", "STOP", "STALL", "REWIND")


def status_strip(df: pd.DataFrame, *, at: str = "at", who: str = "group_id", status: str = "status",
                 detail: str | None = "worst_partition_status", title: str | None = None) -> go.Figure:
    """Coloured squares: green OK, orange WARN, red ERR (with the worst partition's status on hover)."""
    if df.empty:
        return empty_figure("No consumer-group offset snapshots in this time range")
    # Group ids and partition statuses are data: the axis and the hover draw them as HTML.
    df = df.assign(**{who: esc_column(df[who])}, **({detail: esc_column(df[detail].astype("string"))} if detail else {}))
    fig = go.Figure()
    for s in ORDER:
        part = df[df[status] == s]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part[at], y=part[who], mode="markers", name=s,
            marker=dict(symbol="square", size=11, color=STATUS_COLOURS.get(s)),
            customdata=part[[detail]] if detail else None,
            hovertemplate="%{y}<br>%{x|%H:%M:%S}: " + s + (" (worst partition %{customdata[0]})" if detail else "")
                          + "<extra></extra>",
        ))
    groups = df[who].nunique()
    fig.update_yaxes(type="category", categoryorder="category descending", title="consumer group", showgrid=False)
    fig.update_xaxes(title=f"polled at, {TIME_TITLE}")
    return base_layout(fig, height=max(180, 34 * groups + 90), title=title)
