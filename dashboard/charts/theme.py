"""Colours and formats every chart shares, so a severity looks the same everywhere."""

from __future__ import annotations

from dashboard.charts.labels import esc

SEVERITY_COLOURS = {
    "critical": "#8e0000",
    "error": "#d32f2f",
    "warning": "#f57c00",
    "info": "#1976d2",
}
OK_COLOUR = "#2e7d32"
NEUTRAL = "#78909c"
KIND_COLOURS = {"service": "#455a64", "topic": "#5d4037", "group": "#00695c"}
# Burrow statuses (docs/architecture.md#event-lag), worst last.
STATUS_COLOURS = {
    "OK": OK_COLOUR, "WARN": "#f57c00", "ERR": "#d32f2f", "STOP": "#8e0000", "STALL": "#8e0000",
    "REWIND": "#6a1b9a", "UNKNOWN": NEUTRAL,
}
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
# Charts follow the dashboard's theme, light or dark: transparent backgrounds (Streamlit's own
# background shows through, and st.plotly_chart's theme colours the text), and greys that read
# on both instead of white and near-white.
TRANSPARENT = "rgba(0,0,0,0)"
GRID = "rgba(128,128,128,0.22)"
MUTED = "#8a9aa5"


def base_layout(fig, *, height: int = 320, title: str | None = None):
    """Common margins and fonts: compact, legible, legend on top."""
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=44 if title else 10, b=10), font=FONT,
        title=dict(text=esc(title), x=0, xanchor="left", y=0.98, yanchor="top", font=dict(size=15)) if title else None,
        # Legend at the right, clear of the title, however many series there are.
        legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.01, title=None),
        plot_bgcolor=TRANSPARENT, paper_bgcolor=TRANSPARENT, hovermode="closest",
    )
    fig.update_xaxes(showgrid=True, gridcolor=GRID, zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor=GRID, zeroline=False)
    return fig


TIME_TITLE = "time (UTC)"  # every time axis: the store and the pages keep UTC


def per_bucket(noun: str, bucket) -> str:
    """'requests per minute', 'records per 5 min', 'dead letters per 10 s': what a bar of one bucket counts."""
    from datetime import timedelta

    s = int(bucket / timedelta(seconds=1))
    if s <= 0:
        return noun
    every = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(s)
    if every is None:
        every = f"{s // 86400:,} days" if s % 86400 == 0 else f"{s // 3600:,} h" if s % 3600 == 0 \
            else f"{s // 60:,} min" if s % 60 == 0 else f"{s:,} s"
    return f"{noun} per {every}"


def integer_axis(fig, top: float, *, axis: str = "y"):
    """An axis of counts: whole numbers with thousands separators, never '0.5 dead letters'."""
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(tickformat=",d", rangemode="tozero", **({"dtick": 1} if top <= 6 else {}))
    return fig


def severity_colour(severity: str | None) -> str:
    return SEVERITY_COLOURS.get(severity or "", OK_COLOUR)
