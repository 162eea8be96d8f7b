"""One trace as a waterfall: a row per span in tree order, a bar from its start for its duration.

Input: the rows of analyses.call_chains.trace_chain (span_id, parent_span_id, service, name,
kind, start_time, duration_ms, error, role, depth). ``highlight`` span ids (the deepest synchronous path) are drawn
strong, the rest pale, so the chain that made the trace deep stands out; ``selected`` is the
span whose detail the page shows. Each service has its colour (charts.colours), and the time
axis reads in ms or s (charts.units).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.colours import service_colour
from dashboard.charts.labels import esc
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import SEVERITY_COLOURS, base_layout
from dashboard.charts.units import axis_unit, fmt_ms

MAX_ROWS = 120
NBSP = "\u00a0"  # plain spaces would collapse: the indentation shows the tree
WATERFALL_ROWS = "span: service · name, under the span that called it"  # the label column's heading


def tree_order(spans: pd.DataFrame) -> list[tuple[str, int]]:
    """(span id, depth) in depth-first order, children by start time; orphans start new roots."""
    ids = set(spans["span_id"])
    children: dict[str | None, list[tuple]] = defaultdict(list)
    for r in spans.itertuples():
        parent = r.parent_span_id if r.parent_span_id in ids else None
        children[parent].append((r.start_time, r.span_id))
    out: list[tuple[str, int]] = []
    stack = [(sid, 0) for _, sid in sorted(children[None], reverse=True)]
    while stack:
        sid, depth = stack.pop()
        out.append((sid, depth))
        stack.extend((c, depth + 1) for _, c in sorted(children[sid], reverse=True))
    return out


def waterfall(spans: pd.DataFrame, *, highlight: set[str] | None = None, selected: str | None = None,
              since: str = "the segment started") -> go.Figure:
    """The waterfall; each bar's customdata[0] is its span id, so a click names the span."""
    if spans.empty:
        return empty_figure("No spans of this trace in the store")
    order = tree_order(spans)[:MAX_ROWS]
    by_id = spans.set_index("span_id")
    t0 = pd.to_datetime(spans["start_time"]).min()
    rows = []
    for sid, depth in order:
        r = by_id.loc[sid]
        start_ms = (pd.Timestamp(r["start_time"]) - t0).total_seconds() * 1000
        dur_ms = max(float(r["duration_ms"] or 0), 0.0)
        role = r.get("role") or ""
        kind = str(r.get("kind") or "").lower() + (f", {role}" if role else "")
        name = str(r["name"])
        name = name if len(name) <= 38 else name[:37] + "…"
        service = r["service"] if isinstance(r["service"], str) and r["service"] else "?"
        # Service and span names are data: plotly would draw '<a href>' in them as a link.
        label = f"{NBSP * 3 * depth}{'↳ ' if depth else ''}{esc(service)} · {esc(name)}"
        rows.append(dict(sid=sid, label=label, start=start_ms, dur=dur_ms, service=service,
                         kind=esc(kind), error=bool(r.get("error")), took=fmt_ms(dur_ms), at=fmt_ms(start_ms),
                         strong=not highlight or sid in highlight))
    d = pd.DataFrame(rows)
    d["y"] = [f"{i:03d}" for i in range(len(d))]  # unique rows even when labels repeat
    unit, div, tickformat = axis_unit(float((d["start"] + d["dur"]).max()))
    # A zero-length span still gets a visible sliver, sized to the axis.
    d["width"] = (d["dur"] / div).clip(lower=float((d["start"] + d["dur"]).max() / div) / 400 or 0.001)
    fig = go.Figure()
    for service in sorted(d["service"].unique()):
        part = d[d["service"] == service]
        colour = service_colour(service)
        chosen = part["sid"] == selected
        fig.add_trace(go.Bar(
            y=part["y"], x=part["width"], base=part["start"] / div, orientation="h", name=esc(service),
            marker=dict(color=colour, opacity=[1.0 if s or c else 0.35 for s, c in zip(part["strong"], chosen,
                                                                                        strict=True)],
                        line=dict(color=[SEVERITY_COLOURS["error"] if e else ("#ffffff" if c else colour)
                                         for e, c in zip(part["error"], chosen, strict=True)],
                                  width=[3 if c else 2.5 if e else 0 for e, c in zip(part["error"], chosen,
                                                                                      strict=True)])),
            customdata=part[["sid", "label", "kind", "took", "at"]].assign(label=part["label"].str.strip()),
            hovertemplate="%{customdata[1]}<br>%{customdata[2]}, %{customdata[3]}, starts at %{customdata[4]}"
                          "<br>click for its attributes and events<extra></extra>",
        ))
    # Labels left-aligned in their own column, so the indentation reads as a tree.
    fig.update_yaxes(autorange="reversed", showticklabels=False, title=None)
    fig.update_xaxes(title=f"{unit} since {since}", domain=[0.36, 1.0], tickformat=tickformat, rangemode="tozero")
    for r in d.itertuples():
        label = f"<b>{r.label}</b>" if r.sid == selected else r.label
        fig.add_annotation(x=0, xref="paper", y=r.y, yref="y", xanchor="left", showarrow=False, text=label,
                           font=dict(size=11, **({} if r.strong or r.sid == selected else {"color": "#90a4ae"})))
    # the label column's heading, where a y axis would have its title
    fig.add_annotation(x=0, xref="paper", y=1, yref="paper", yanchor="bottom", xanchor="left", showarrow=False,
                       text=WATERFALL_ROWS, font=dict(size=11, color="#607d8b"))
    fig.update_layout(barmode="overlay", bargap=0.25, clickmode="event+select", dragmode=False)
    fig = base_layout(fig, height=max(220, 22 * len(d) + 130))
    fig.update_layout(margin_t=30)
    return fig
