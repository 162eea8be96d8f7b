"""The topology graph: services, topics and consumer groups in layers (charts/topology_layout.py).

Input: ``nodes`` (id, kind, name, detail, severity, declared, observed, and optionally near:
the topic a dead-letter topic serves) and ``edges`` (src, dst, kind "sync"|"async", volume,
severity, declared, observed, and optionally per_min and p95_ms, written on sync edges as
Tempo's service graph does). Sync edges are solid, async edges dashed; what is declared but
never observed is dotted grey; nodes and edges take the colour of their worst open finding.
Boxes are drawn at the size the layout gave them, on axes in the layout's pixels.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import topology_layout
from dashboard.charts.labels import esc
from dashboard.charts.theme import FONT, KIND_COLOURS, NEUTRAL, SEVERITY_COLOURS
from dashboard.charts.units import fmt_ms

_FILL = {"service": "#ffffff", "topic": "#fbe9e7", "group": "#e0f2f1"}
# The page shows through (light or dark theme); the boxes keep light fills and dark text, which
# read on either.
_CLEAR = "rgba(0,0,0,0)"
_BORDERPAD = 5


def _edge_style(row) -> tuple[str, str, float]:
    declared, observed = bool(row.get("declared", True)), bool(row.get("observed", True))
    if declared and not observed:
        return "dot", "#b0bec5", 1.2
    colour = SEVERITY_COLOURS.get(row.get("severity") or "", "#607d8b")
    if not declared:
        colour = SEVERITY_COLOURS.get(row.get("severity") or "", SEVERITY_COLOURS["warning"])
    volume = row.get("volume") or 0
    width = 1.4 + min(3.0, math.log10(1 + float(volume)) * 0.8)
    return ("solid" if row.get("kind") == "sync" else "dash"), colour, width


def _rate_text(e) -> str:
    """'12/min · p95 45 ms' for an edge with a measured rate (sync calls); '' otherwise."""
    per_min, p95 = e.get("per_min"), e.get("p95_ms")
    if per_min is None or pd.isna(per_min):
        return ""
    rate = f"{per_min:,.1f}/min" if per_min < 10 else f"{per_min:,.0f}/min"
    return rate + (f" · p95 {fmt_ms(float(p95))}" if p95 is not None and not pd.isna(p95) else "")


def rate_texts(edges: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(src, dst) → the rate written on the edge, on two lines (narrow enough for the gap between
    two layers): sync edges with a measured rate."""
    return {(e["src"], e["dst"]): t.replace(" · ", "<br>") for _, e in edges.iterrows()
            if e.get("kind") == "sync" and (t := _rate_text(e))}


def topology_figure(nodes: pd.DataFrame, edges: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Draw the graph. Empty input gives an empty figure with a note."""
    fig = go.Figure()
    if nodes.empty:
        fig.add_annotation(text="No services, topics or groups yet", showarrow=False, font=dict(size=14))
        fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor=_CLEAR, paper_bgcolor=_CLEAR)
        return fig
    lay = topology_layout.layout(nodes, edges)
    texts = rate_texts(edges)
    topology_layout.place_labels(lay, texts)
    boxes = lay.boxes
    names = {i: esc(n) for i, n in zip(nodes["id"], nodes["name"], strict=True)}
    # Traces and annotations are made first and given to the figure at once: added one by one,
    # plotly validates the whole list again each time (a cluster of 500 nodes took 50 s to draw).
    traces: list[go.Scatter] = []
    notes: list[dict] = []
    for _, e in edges.iterrows():
        points = lay.routes.get((e["src"], e["dst"]))
        if not points:
            continue
        dash, colour, width = _edge_style(e)
        how = "sync call" if e.get("kind") == "sync" else "event flow"
        state = ("declared, never observed" if not e.get("observed", True)
                 else "observed, not declared" if not e.get("declared", True) else "declared and observed")
        vol = e.get("volume")
        rate = _rate_text(e)
        hover = (f"{names[e['src']]} → {names[e['dst']]}<br>{how}, {state}"
                 + (f"<br>{int(vol):,} observed" if vol and not pd.isna(vol) else "")
                 + (f"<br>{rate}" if rate else "")
                 + (f"<br>worst finding: {e['severity']}" if e.get("severity") else ""))
        # The line ends on the target box's border, the arrowhead on its end pointing at the box.
        traces.append(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", hoverinfo="text",
            hovertext=hover, line=dict(color=colour, width=width, dash=dash, shape="linear"),
            marker=dict(symbol="arrow", size=[0] * (len(points) - 1) + [15], angleref="previous", color=colour,
                        standoff=1, line=dict(width=0)),
            showlegend=False,
        ))
    hovers: dict[str, str] = {}
    for _, n in nodes.iterrows():
        box = boxes[n["id"]]
        sev = n.get("severity") or None
        border = SEVERITY_COLOURS.get(sev, KIND_COLOURS.get(n["kind"], NEUTRAL))
        ghost = not bool(n.get("observed", True))
        detail = esc(n.get("detail") or "")
        # Wrapped and shortened first, escaped after: a cut must not split an entity like '&lt;'.
        lines = "<br>".join(esc(s) for s in topology_layout.wrap_name(str(n["name"])))
        label = f"<b>{lines}</b>" + (f"<br><span style='font-size:10px'>{detail}</span>" if detail else "")
        hover = (f"{esc(n['kind'])}: {names[n['id']]}" + (f"<br>{detail}" if detail else "")
                 + ("<br>declared, never observed" if ghost else "")
                 + ("<br>observed, not declared" if not n.get("declared", True) else "")
                 + (f"<br>worst open finding: {sev}" if sev else ""))
        hovers[n["id"]] = hover
        # The box lets clicks and hovers through to the node's marker below it: a box that
        # captured them (plotly's default when it has a hover text) would make it unclickable.
        # Its size is the layout's, so that what the layout keeps apart stays apart on the page.
        line = 2.5 if sev else 1.5
        notes.append(dict(
            x=box.x, y=box.y, text=label, showarrow=False, captureevents=False, align="center", valign="middle",
            width=box.w - 2 * (_BORDERPAD + line), height=box.h - 2 * (_BORDERPAD + line),
            font=dict(size=11, color="#90a4ae" if ghost else "#263238"),
            bgcolor="#fafafa" if ghost else _FILL.get(n["kind"], "white"),
            bordercolor=border, borderwidth=line, borderpad=_BORDERPAD,
        ))
    colours = {(e["src"], e["dst"]): _edge_style(e)[1] for _, e in edges.iterrows()}
    for edge, spot in lay.labels.items():  # after the boxes; placed where they cover none
        notes.append(dict(x=spot.x, y=spot.y, text=texts[edge], showarrow=False, borderpad=1,
                          font=dict(size=9, color=colours[edge]), bgcolor="rgba(255,255,255,0.85)"))
    # Invisible markers over the boxes: a click on a node selects its marker, whose customdata
    # is the node's row in ``nodes`` (an index, not the name: no text from the data rides along).
    traces.append(go.Scatter(
        x=[boxes[i].x for i in nodes["id"]], y=[boxes[i].y for i in nodes["id"]], mode="markers",
        marker=dict(size=34, opacity=0, symbol="square"), customdata=list(range(len(nodes))), name="nodes",
        text=[f"{hovers[i]}<br>click for its findings and pages" for i in nodes["id"]],
        hovertemplate="%{text}<extra></extra>", showlegend=False,
    ))
    fig.add_traces([*traces, *_legend()])
    top = 40 if title else 30
    fig.update_layout(
        # The plot is exactly as tall as the drawing and a pixel of the layout is a pixel on both axes:
        # on a page wider than the drawing plotly widens the x range, so the drawing stands centred.
        height=int(lay.height + top + 10), margin=dict(l=0, r=0, t=top, b=10),
        title=dict(text=title, x=0) if title else None, font=FONT, plot_bgcolor=_CLEAR, paper_bgcolor=_CLEAR,
        xaxis=dict(visible=False, range=[0, lay.width], fixedrange=True, constrain="range"),
        yaxis=dict(visible=False, range=[lay.height, 0], fixedrange=True, scaleanchor="x", scaleratio=1),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=11)),
        hoverlabel=dict(font_size=12),
        meta=dict(min_width=math.ceil(lay.width), direction=lay.direction), annotations=notes,
    )
    return fig


def _legend() -> list[go.Scatter]:
    """Legend-only traces that explain line styles and colours."""
    entries = [
        ("sync call", dict(color="#607d8b", dash="solid")),
        ("event flow", dict(color="#607d8b", dash="dash")),
        ("declared, never seen", dict(color="#b0bec5", dash="dot")),
    ] + [(f"worst finding: {s}", dict(color=c, dash="solid")) for s, c in SEVERITY_COLOURS.items()]
    kinds = [go.Scatter(x=[None], y=[None], mode="markers", name=kind if kind != "group" else "consumer group",
                        marker=dict(symbol="square", size=13, color=fill, line=dict(color=KIND_COLOURS[kind], width=1.5)),
                        hoverinfo="skip") for kind, fill in _FILL.items()]
    return kinds + [go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(width=2.5, **line),
                               hoverinfo="skip") for name, line in entries]
