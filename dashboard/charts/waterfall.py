"""One trace as a waterfall: a row per span in tree order, a bar from its start for its duration.

Input: the rows of analyses.call_chains.trace_chain (span_id, parent_span_id, service, name,
kind, start_time, duration_ms, error, role, depth). ``highlight`` span ids (the deepest synchronous path) are drawn
strong, the rest pale, so the chain that made the trace deep stands out.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.labels import esc
from dashboard.charts.series import empty_figure
from dashboard.charts.theme import SEVERITY_COLOURS, base_layout

_PALETTE = ["#1976d2", "#f57c00", "#7b1fa2", "#00897b", "#c2185b", "#5d4037", "#455a64", "#afb42b",
            "#0097a7", "#e64a19", "#303f9f", "#689f38"]
MAX_ROWS = 120
NBSP = "\u00a0"  # plain spaces would collapse: the indentation shows the tree


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


def waterfall(spans: pd.DataFrame, *, highlight: set[str] | None = None) -> go.Figure:
    if spans.empty:
        return empty_figure("No spans of this trace in the store")
    order = tree_order(spans)[:MAX_ROWS]
    by_id = spans.set_index("span_id")
    t0 = pd.to_datetime(spans["start_time"]).min()
    services = sorted(spans["service"].fillna("?").unique())
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(services)}
    rows = []
    for sid, depth in order:
        r = by_id.loc[sid]
        start_ms = (pd.Timestamp(r["start_time"]) - t0).total_seconds() * 1000
        dur_ms = max(float(r["duration_ms"] or 0), 0.05)
        role = r.get("role") or ""
        kind = str(r.get("kind") or "").lower() + (f", {role}" if role else "")
        name = str(r["name"])
        name = name if len(name) <= 38 else name[:37] + "…"
        # Service and span names are data: plotly would draw '<a href>' in them as a link.
        label = f"{NBSP * 3 * depth}{'↳ ' if depth else ''}{esc(r['service'] or '?')} · {esc(name)}"
        rows.append(dict(sid=sid, label=label, start=start_ms, dur=dur_ms, service=r["service"] or "?",
                         kind=esc(kind), error=bool(r.get("error")),
                         strong=not highlight or sid in highlight))
    d = pd.DataFrame(rows)
    d["y"] = [f"{i:03d}" for i in range(len(d))]  # unique rows even when labels repeat
    fig = go.Figure()
    for service in services:
        part = d[d["service"] == service]
        if part.empty:
            continue
        fig.add_trace(go.Bar(
            y=part["y"], x=part["dur"], base=part["start"], orientation="h", name=esc(service),
            marker=dict(color=colour[service], opacity=[1.0 if s else 0.35 for s in part["strong"]],
                        line=dict(color=[SEVERITY_COLOURS["error"] if e else colour[service] for e in part["error"]],
                                  width=[2.5 if e else 0 for e in part["error"]])),
            customdata=part[["label", "kind", "dur"]].assign(label=part["label"].str.strip()),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}, %{customdata[2]:.1f} ms, starts at %{base:.1f} ms"
                          "<extra></extra>",
        ))
    # Labels left-aligned in their own column, so the indentation reads as a tree.
    fig.update_yaxes(autorange="reversed", showticklabels=False, title=None)
    fig.update_xaxes(title="ms since the segment started", domain=[0.36, 1.0])
    for r in d.itertuples():
        fig.add_annotation(x=0, xref="paper", y=r.y, yref="y", xanchor="left", showarrow=False, text=r.label,
                           font=dict(size=11, color="#263238" if r.strong else "#90a4ae"))
    fig.update_layout(barmode="overlay", bargap=0.25)
    return base_layout(fig, height=max(220, 22 * len(d) + 110))
