"""Counts and rates over time: bars per bucket, coloured by a category."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.charts.labels import esc_column
from dashboard.charts.theme import MUTED, TIME_TITLE, TRANSPARENT, base_layout, integer_axis, per_bucket

_QUAL = ["#1976d2", "#f57c00", "#7b1fa2", "#00897b", "#c2185b", "#5d4037", "#455a64", "#afb42b", "#0097a7"]


def empty_figure(text: str, *, height: int = 220) -> go.Figure:
    """A figure that says why it is empty, instead of blank axes."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, font=dict(size=14, color=MUTED), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor=TRANSPARENT, paper_bgcolor=TRANSPARENT, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def bars_over_time(df: pd.DataFrame, *, x: str, y: str, color: str | None = None, y_title: str,
                   title: str | None = None, empty: str = "Nothing in this time range",
                   colors: dict[str, str] | None = None, height: int = 300, mark: tuple | None = None,
                   x_range: tuple | None = None, bucket: timedelta | None = None) -> go.Figure:
    """Stacked bars of ``y`` per time bucket ``x``, one colour per value of ``color``;
    ``mark`` = (time, label) draws a dashed vertical line there.

    ``bucket``, the width of the buckets ``x`` starts, draws each bar over its bucket. Without
    it Plotly guesses the width from the gaps between bars, and a lone bar (one dead letter)
    got a millisecond, on an axis zoomed to it."""
    if df.empty or df[y].fillna(0).sum() == 0:
        return empty_figure(empty)
    df = df[df[y].fillna(0) != 0]  # series that are all zero only clutter the legend
    if color:  # each value becomes a legend entry and hover text
        df = df.assign(**{color: esc_column(df[color])})
    # a bar counts one bucket: the axis says how long ("requests per minute")
    y_title = per_bucket(y_title, bucket) if bucket is not None else y_title
    fig = px.bar(df, x=x, y=y, color=color, color_discrete_sequence=_QUAL, color_discrete_map=colors or {},
                 labels={x: TIME_TITLE, y: y_title, **({color: ""} if color else {})})
    fig.update_layout(barmode="stack", bargap=0.1)
    clock = "%H:%M:%S" if bucket is not None and bucket < timedelta(minutes=1) else "%H:%M"
    fig.update_traces(hovertemplate=f"%{{x|{clock}}}<br>%{{y:,}}<extra>%{{fullData.name}}</extra>")
    if bucket is not None:  # from the bucket's start to its end
        fig.update_traces(width=bucket / timedelta(milliseconds=1), offset=0)
    if x_range is not None:  # the whole period compared, even where nothing happened
        fig.update_xaxes(range=list(x_range))
    if mark is not None:
        fig.add_vline(x=mark[0], line_dash="dash", line_color=MUTED)
        fig.add_annotation(x=mark[0], y=1, yref="paper", text=mark[1], showarrow=False, xanchor="left",
                           yanchor="top", font=dict(size=11, color=MUTED))
    fig = base_layout(fig, height=height, title=title)
    # bars count things: whole numbers on the axis (the tallest stack decides the ticks)
    top = df.groupby(x)[y].sum().max() if len(df) else 0
    return integer_axis(fig, float(top))


LONE_POINT_SPAN = timedelta(minutes=1)


def lines_over_time(df: pd.DataFrame, *, x: str, y: str, color: str | None = None, y_title: str,
                    title: str | None = None, empty: str = "Nothing in this time range",
                    colors: dict[str, str] | None = None, height: int = 300, y_format: str = ",",
                    integer: bool = False, x_range: tuple | None = None) -> go.Figure:
    """One line per value of ``color``, markers on the points; ``integer`` for counts. ``x_range``,
    the period shown: without it a lone point got an axis zoomed to a millisecond around it."""
    if df.empty or df[y].isna().all():
        return empty_figure(empty)
    if color:
        df = df.assign(**{color: esc_column(df[color])})
    fig = px.line(df, x=x, y=y, color=color, markers=True, color_discrete_sequence=_QUAL,
                  color_discrete_map=colors or {}, labels={x: TIME_TITLE, y: y_title, **({color: ""} if color else {})})
    fig.update_traces(hovertemplate=f"%{{x|%H:%M:%S}}<br>%{{y:{y_format}}}<extra>%{{fullData.name}}</extra>",
                      marker=dict(size=5))
    fig.update_yaxes(tickformat=y_format)
    if x_range is None and df[x].nunique() == 1:  # one point in time: a minute either side of it
        at = pd.Timestamp(df[x].iloc[0])
        x_range = (at - LONE_POINT_SPAN, at + LONE_POINT_SPAN)
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    fig = base_layout(fig, height=height, title=title)
    return integer_axis(fig, float(df[y].max())) if integer else fig
