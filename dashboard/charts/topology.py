"""The topology graph: services, topics and consumer groups in layers, left to right.

Input: ``nodes`` (id, kind, name, detail, severity, declared, observed, and optionally near:
the node an orphan sits beside) and ``edges`` (src, dst, kind "sync"|"async", volume, severity,
declared, observed, and optionally per_min and p95_ms, written on sync edges as Tempo's
service graph does). Sync edges are
solid, async edges dashed; what is declared but never observed is dotted grey; nodes and
edges take the colour of their worst open finding. The layout is deterministic: layers by
longest path from the sources, order within a layer by the barycentre of the neighbours.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.labels import esc
from dashboard.charts.theme import FONT, KIND_COLOURS, NEUTRAL, SEVERITY_COLOURS
from dashboard.charts.units import fmt_ms

_MAX_LABEL = 26
_ROW_PX = 88  # vertical room per node: two half-rows, each taller than a two-line box
_BOX_ROWS = 0.3  # half a box's height, in rows: a line nearer than this to a box's centre crosses it
_FILL = {"service": "#ffffff", "topic": "#fbe9e7", "group": "#e0f2f1"}
# The page shows through (light or dark theme); the boxes keep light fills and dark text, which
# read on either.
_CLEAR = "rgba(0,0,0,0)"


def _reaches(dag: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in dag.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def _layers(ids: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering over the graph with back edges (cycles) ignored.

    Where a cycle is cut decides the picture. A consumer group's edge to the service that runs
    it is membership, not flow, and it is what closes most cycles (fulfillment-service reads
    shop.orders and calls orders-api, which wrote it): such edges are laid out last and only
    where they close no cycle, so flow reads left to right and the group sits beside its service.
    """
    out: dict[str, list[str]] = defaultdict(list)
    membership: list[tuple[str, str]] = []
    for s, d in edges:
        if s == d:
            continue
        if s.startswith("group:") and d.startswith("service:"):
            membership.append((s, d))
        else:
            out[s].append(d)
    into = {d for s, d in edges if s != d}
    # Drop back edges with an iterative DFS in a fixed order (sources first), so cycles cannot loop.
    colour: dict[str, int] = {}
    dag: dict[str, list[str]] = defaultdict(list)
    for root in sorted(ids, key=lambda n: (n in into, n)):
        if root in colour:
            continue
        stack = [(root, iter(sorted(out[root])))]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(nxt) == 1:
                continue  # back edge: drawn, but not used for layering
            else:
                dag[node].append(nxt)
                if nxt not in colour:
                    colour[nxt] = 1
                    stack.append((nxt, iter(sorted(out[nxt]))))
    for s, d in sorted(membership):
        if not _reaches(dag, d, s):
            dag[s].append(d)
    layer = dict.fromkeys(ids, 0)
    indeg = defaultdict(int)
    for s in ids:
        for d in dag[s]:
            indeg[d] += 1
    queue = sorted(n for n in ids if indeg[n] == 0)
    while queue:
        n = queue.pop(0)
        for d in dag[n]:
            layer[d] = max(layer[d], layer[n] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    return layer


def layout(nodes: pd.DataFrame, edges: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Node id → (x, y): x is the layer, y the slot within it (0 at the top, negative down)."""
    return routed_layout(nodes, edges)[0]


def routed_layout(nodes: pd.DataFrame, edges: pd.DataFrame
                  ) -> tuple[dict[str, tuple[float, float]], dict[tuple[str, str], list[tuple[float, float]]]]:
    """Node positions, and for each edge spanning more than one layer the points it passes through.

    In every layer a long edge crosses, it passes where its straight line would, unless a box
    stands there: then through the nearest gap between boxes, so it never runs across one. A
    node with no edge that names a ``near`` node (a dead-letter topic and the topic it serves)
    sits right below that node.
    """
    ids = sorted(nodes["id"])
    known = set(ids)
    pairs = [(s, d) for s, d in zip(edges.get("src", []), edges.get("dst", []), strict=False)
             if s in known and d in known]
    layer = _layers(ids, pairs)
    touched = {n for p in pairs for n in p}
    near = {n: m for n, m in zip(nodes["id"], nodes.get("near", pd.Series([None] * len(nodes))), strict=True)
            if isinstance(m, str) and m in known and n not in touched}
    for n, m in near.items():
        layer[n] = layer[m]
    by_layer: dict[int, list[str]] = defaultdict(list)
    for n in ids:
        if n not in near:  # placed beside its neighbour at the end
            by_layer[layer[n]].append(n)
    kind_rank = {"service": 0, "topic": 1, "group": 2}
    kinds = dict(zip(nodes["id"], nodes["kind"], strict=True))
    for lst in by_layer.values():
        lst.sort(key=lambda n: (kind_rank.get(kinds[n], 3), n))
    nbrs: dict[str, list[str]] = defaultdict(list)
    for s, d in pairs:
        nbrs[s].append(d)
        nbrs[d].append(s)
    pos_in = {n: i for lst in by_layer.values() for i, n in enumerate(lst)}
    # A few barycentre sweeps reduce crossings; ties keep the sorted order (deterministic).
    for _ in range(4):
        for li in sorted(by_layer):
            lst = by_layer[li]

            def bary(n: str, lst=lst) -> float:
                close = [pos_in[m] - (len(by_layer[layer[m]]) - 1) / 2 for m in nbrs[n] if layer[m] != layer[n]]
                return sum(close) / len(close) if close else pos_in[n] - (len(lst) - 1) / 2

            lst.sort(key=lambda n: (bary(n), n))
            for i, n in enumerate(lst):
                pos_in[n] = i
    for n, m in sorted(near.items()):
        lst = by_layer[layer[m]]
        lst.insert(lst.index(m) + 1, n)
    tallest = max((len(v) for v in by_layer.values()), default=1)
    pos = {}
    for li, lst in by_layer.items():
        # Odd layers sit half a row lower: boxes of neighbouring layers never share a row, so
        # their labels cannot collide even where the layers stand closer than a label is wide.
        offset = (tallest - len(lst)) // 2 + (0.5 if li % 2 else 0.0)
        for i, n in enumerate(lst):
            pos[n] = (float(li), -(i + offset))
    rows = {li: sorted(pos[n][1] for n in lst) for li, lst in by_layer.items()}
    routes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for s, d in pairs:
        (x0, y0), (x1, y1) = pos[s], pos[d]
        if x1 - x0 <= 1:
            continue
        points = []
        for li in range(int(x0) + 1, int(x1)):
            y = y0 + (y1 - y0) * (li - x0) / (x1 - x0)
            boxes = rows.get(li, [])
            if any(abs(y - b) < _BOX_ROWS for b in boxes):
                gaps = [(a + b) / 2 for a, b in zip(boxes, boxes[1:], strict=False)] + [boxes[0] - 0.5,
                                                                                          boxes[-1] + 0.5]
                y = min(gaps, key=lambda g: (abs(g - y), g))
            points.append((float(li), y))
        routes[(s, d)] = points
    return pos, routes


def _short(text: str) -> str:
    """The whole name, or its start and end around an ellipsis (the whole one is on hover):
    names of one shop share their prefix and differ at the end (shop.orders, shop.orders.DLT)."""
    if len(text) <= _MAX_LABEL:
        return text
    head = (_MAX_LABEL - 1) // 2
    return text[:head] + "…" + text[-(_MAX_LABEL - 1 - head):]


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


def topology_figure(nodes: pd.DataFrame, edges: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Draw the graph. Empty input gives an empty figure with a note."""
    fig = go.Figure()
    if nodes.empty:
        fig.add_annotation(text="No services, topics or groups yet", showarrow=False, font=dict(size=14))
        fig.update_layout(height=200, xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor=_CLEAR, paper_bgcolor=_CLEAR)
        return fig
    pos, routes = routed_layout(nodes, edges)
    rates: list[dict] = []
    names = {i: esc(n) for i, n in zip(nodes["id"], nodes["name"], strict=True)}
    for _, e in edges.iterrows():
        if e["src"] not in pos or e["dst"] not in pos:
            continue
        (x0, y0), (x1, y1) = pos[e["src"]], pos[e["dst"]]
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
        points = [(x0, y0), *routes.get((e["src"], e["dst"]), []), (x1, y1)]
        if x1 <= x0:  # a back edge (cycle, or same layer): bow it so it does not hide others
            points = [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2 + (0.35 if y1 >= y0 else -0.35)), (x1, y1)]
        # The arrowhead sits on the last stretch, just past its middle, pointing at the target.
        (ax, ay), (bx, by) = points[-2], points[-1]
        tip = (ax + (bx - ax) * 0.6, ay + (by - ay) * 0.6)
        xs = [p[0] for p in points[:-1]] + [tip[0], bx]
        ys = [p[1] for p in points[:-1]] + [tip[1], by]
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines+markers", hoverinfo="text", hovertext=hover,
            # straight stretches through the lanes: a spline through them would swing wide
            line=dict(color=colour, width=width, dash=dash, shape="spline" if x1 <= x0 else "linear"),
            marker=dict(symbol="arrow", size=[0] * (len(xs) - 2) + [15, 0], angleref="previous", color=colour,
                        line=dict(width=0)),
            showlegend=False,
        ))
        if rate and e.get("kind") == "sync":
            (lx0, ly0), (lx1, ly1) = points[0], points[1]
            rates.append(dict(x=(lx0 + lx1) / 2, y=(ly0 + ly1) / 2, text=rate, colour=colour))
    hovers: dict[str, str] = {}
    for _, n in nodes.iterrows():
        x, y = pos[n["id"]]
        sev = n.get("severity") or None
        border = SEVERITY_COLOURS.get(sev, KIND_COLOURS.get(n["kind"], NEUTRAL))
        ghost = not bool(n.get("observed", True))
        detail = esc(n.get("detail") or "")
        # Shortened first, escaped after: a cut must not split an entity like '&lt;'.
        label = f"<b>{esc(_short(str(n['name'])))}</b>" + (f"<br><span style='font-size:10px'>{detail}</span>" if detail else "")
        hover = (f"{esc(n['kind'])}: {names[n['id']]}" + (f"<br>{detail}" if detail else "")
                 + ("<br>declared, never observed" if ghost else "")
                 + ("<br>observed, not declared" if not n.get("declared", True) else "")
                 + (f"<br>worst open finding: {sev}" if sev else ""))
        hovers[n["id"]] = hover
        # The box lets clicks and hovers through to the node's marker below it: a box that
        # captured them (plotly's default when it has a hover text) would make it unclickable.
        fig.add_annotation(
            x=x, y=y, text=label, showarrow=False, captureevents=False, align="center",
            font=dict(size=11, color="#90a4ae" if ghost else "#263238"),
            bgcolor="#fafafa" if ghost else _FILL.get(n["kind"], "white"),
            bordercolor=border, borderwidth=2.5 if sev else 1.5, borderpad=5,
        )
    for r in rates:  # after the boxes, so that a box never hides an edge's rate
        fig.add_annotation(x=r["x"], y=r["y"], text=r["text"], showarrow=False, yshift=9,
                           font=dict(size=9, color=r["colour"]), bgcolor="rgba(255,255,255,0.8)")
    # Invisible markers over the boxes: a click on a node selects its marker, whose customdata
    # is the node's row in ``nodes`` (an index, not the name: no text from the data rides along).
    fig.add_trace(go.Scatter(
        x=[pos[i][0] for i in nodes["id"]], y=[pos[i][1] for i in nodes["id"]], mode="markers",
        marker=dict(size=34, opacity=0, symbol="square"), customdata=list(range(len(nodes))), name="nodes",
        text=[f"{hovers[i]}<br>click for its findings and pages" for i in nodes["id"]],
        hovertemplate="%{text}<extra></extra>", showlegend=False,
    ))
    _legend(fig)
    layers = max(p[0] for p in pos.values()) + 1
    lanes = [p for points in routes.values() for p in points]
    tallest = max(-p[1] for p in [*pos.values(), *lanes]) + 1  # rows, half rows and lanes included
    fig.update_layout(
        height=int(max(360, tallest * _ROW_PX + 90)), margin=dict(l=10, r=10, t=40 if title else 30, b=10),
        title=dict(text=title, x=0) if title else None, font=FONT, plot_bgcolor=_CLEAR, paper_bgcolor=_CLEAR,
        xaxis=dict(visible=False, range=[-0.6, layers - 0.4], fixedrange=True),
        yaxis=dict(visible=False, range=[-tallest + 0.4, 0.6], fixedrange=True),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=11)),
        hoverlabel=dict(font_size=12),
    )
    return fig


def _legend(fig: go.Figure) -> None:
    """Legend-only traces that explain line styles and colours."""
    entries = [
        ("sync call", dict(color="#607d8b", dash="solid")),
        ("event flow", dict(color="#607d8b", dash="dash")),
        ("declared, never seen", dict(color="#b0bec5", dash="dot")),
    ] + [(f"worst finding: {s}", dict(color=c, dash="solid")) for s, c in SEVERITY_COLOURS.items()]
    for kind, fill in _FILL.items():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=kind if kind != "group" else "consumer group",
                                 marker=dict(symbol="square", size=13, color=fill, line=dict(color=KIND_COLOURS[kind], width=1.5)),
                                 hoverinfo="skip"))
    for name, line in entries:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(width=2.5, **line),
                                 hoverinfo="skip"))
