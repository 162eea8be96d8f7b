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


def base_layout(fig, *, height: int = 320, title: str | None = None):
    """Common margins and fonts: compact, legible, legend on top."""
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=44 if title else 10, b=10), font=FONT,
        title=dict(text=esc(title), x=0, xanchor="left", y=0.98, yanchor="top", font=dict(size=15)) if title else None,
        # Legend at the right, clear of the title, however many series there are.
        legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.01, title=None),
        plot_bgcolor="white", hovermode="closest",
    )
    fig.update_xaxes(showgrid=True, gridcolor="#eceff1", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eceff1", zeroline=False)
    return fig


def severity_colour(severity: str | None) -> str:
    return SEVERITY_COLOURS.get(severity or "", OK_COLOUR)
