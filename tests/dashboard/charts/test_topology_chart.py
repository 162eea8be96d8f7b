"""The Overview's graph: the declared sample topology drawn readable and faithful."""

from __future__ import annotations

import pandas as pd

from collectors.topology import load_into_store, load_topology
from dashboard import graph, read
from dashboard.analyses.window import Window
from dashboard.charts import topology_layout, topology_measure
from dashboard.charts.topology import topology_figure
from sample_topology import TOPOLOGY_FILE


def _declared(store):
    load_into_store(store, TOPOLOGY_FILE)
    cur = store.cursor()
    w = Window.everything(cur)
    return graph.build(read.declared_tables(cur), None, read.volumes(cur, w), [])


def test_every_declared_element_is_a_node_and_no_two_overlap(store) -> None:
    topo = load_topology(TOPOLOGY_FILE)
    nodes, edges = _declared(store)
    assert len(nodes[nodes.kind == "service"]) == len(topo.services)
    assert len(nodes[nodes.kind == "topic"]) == len(topo.topics)
    assert len(nodes[nodes.kind == "group"]) == len(topo.groups)
    lay = topology_layout.layout(nodes, edges)
    assert topology_measure.measure(lay)["overlaps"] == 0
    # the coordinate along which layers follow each other: x left to right, or y top down
    pos = {n: ((b.x, b.y) if lay.direction == "LR" else (b.y, b.x)) for n, b in lay.boxes.items()}
    # Edges point left to right except where a cycle forces a back edge (the shipping quote's
    # request and reply: web-checkout → requests → shipping → replies → web-checkout's group),
    # and into a dead-letter topic, which stands beside the topic it serves, not after its writer.
    pairs = list(zip(edges.src, edges.dst, strict=True))
    beside = topology_layout.satellites(nodes)
    back = [(s, d) for s, d in pairs if pos[s][0] >= pos[d][0] and d not in beside]
    assert all(_reaches(pairs, d, s) for s, d in back), back
    assert len(back) <= 1


def _reaches(pairs: list[tuple[str, str]], start: str, goal: str) -> bool:
    """Whether a path leads from start to goal along the edges."""
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for s, d in pairs:
            if s == node and d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def test_sync_edges_are_solid_async_dashed_unobserved_dotted(store) -> None:
    nodes, edges = _declared(store)
    fig = topology_figure(nodes, edges)
    drawn = [t for t in fig.data if t.hovertext]
    assert len(drawn) == len(edges)
    # Nothing was observed: every declared edge is dotted ("declared, never seen").
    assert {t.line.dash for t in drawn} == {"dot"}
    observed = pd.DataFrame([dict(src_kind="service", src="web-checkout", dst_kind="service", dst="orders-api",
                                  kind="sync", volume=10),
                             dict(src_kind="service", src="orders-api", dst_kind="topic", dst="shop.orders",
                                  kind="async", volume=10)])
    cur = store.cursor()
    nodes, edges = graph.build(read.declared_tables(cur), observed, read.volumes(cur, Window.everything(cur)), [])
    styles = {t.hovertext.split("<br>")[0]: t.line.dash for t in topology_figure(nodes, edges).data if t.hovertext}
    assert styles["web-checkout → orders-api"] == "solid"
    assert styles["orders-api → shop.orders"] == "dash"


def test_without_a_topology_the_observed_graph_stands_alone(store) -> None:
    observed = pd.DataFrame([dict(src_kind="service", src="a", dst_kind="service", dst="b", kind="sync", volume=3)])
    cur = store.cursor()
    nodes, edges = graph.build(read.declared_tables(cur), observed, read.volumes(cur, Window.everything(cur)), [])
    assert list(nodes.name) == ["a", "b"] and bool(nodes.observed.all()) and bool(nodes.declared.all())
    assert list(edges.kind) == ["sync"]


def test_idle_undeclared_groups_are_counted_not_drawn(store) -> None:
    """A live cluster keeps old consumer groups and test topics: idle and undeclared, they would
    bury the watched system; one with a finding of its own is still drawn."""
    from dashboard.findings.model import Finding

    load_into_store(store, TOPOLOGY_FILE)
    stale = [dict(src_kind="topic", src="shop.orders", dst_kind="group", dst=f"bench-{i}", kind="async", volume=0)
             for i in range(30)]
    observed = pd.DataFrame([dict(src_kind="topic", src="shop.orders", dst_kind="group", dst="fulfillment",
                                  kind="async", volume=12),
                             dict(src_kind="topic", src="shop.orders", dst_kind="group", dst="adhoc-reader",
                                  kind="async", volume=5), *stale])
    lagging = Finding(rule="CONSUMER_LAG", severity="warning", subject_kind="group", subject="bench-7", count=1,
                      first_seen=None, last_seen=None, summary="stuck", remedy="look")
    cur = store.cursor()
    nodes, edges = graph.build(read.declared_tables(cur), observed, read.volumes(cur, Window.everything(cur)),
                               [lagging])
    groups = set(nodes[nodes.kind == "group"].name)
    assert "adhoc-reader" in groups  # undeclared but active
    assert "bench-7" in groups  # idle, but it has a finding
    assert not {f"bench-{i}" for i in range(30) if i != 7} & groups
    assert nodes.attrs["hidden"] == {"group": 29}
    assert set(edges.dst) <= set(nodes.id)


def test_sync_edges_carry_rate_and_p95_and_the_legend_names_every_colour(store) -> None:
    from dashboard.charts.theme import SEVERITY_COLOURS

    observed = pd.DataFrame([dict(src_kind="service", src="web-checkout", dst_kind="service", dst="orders-api",
                                  kind="sync", volume=10)])
    stats = pd.DataFrame([dict(caller="web-checkout", callee="orders-api", calls=10, per_min=42.0, p95_ms=2500.0)])
    load_into_store(store, TOPOLOGY_FILE)
    cur = store.cursor()
    nodes, edges = graph.build(read.declared_tables(cur), observed, read.volumes(cur, Window.everything(cur)), [],
                               sync_stats=stats)
    fig = topology_figure(nodes, edges)
    texts = [a.text for a in fig.layout.annotations]
    assert "42/min<br>p95 2.50 s" in texts  # on two lines, to fit between two layers
    edge = next(t for t in fig.data if t.hovertext and t.hovertext.startswith("web-checkout → orders-api"))
    assert "42/min · p95 2.50 s" in edge.hovertext
    assert max(edge.marker.size) >= 14, "an arrowhead big enough to see"
    legend = {t.name: t for t in fig.data if t.name and t.showlegend is not False}
    assert "worst finding: info" in legend
    drawn = {t.line.color for t in fig.data if t.hovertext} | {SEVERITY_COLOURS[s] for s in SEVERITY_COLOURS}
    legend_colours = {t.line.color for t in legend.values() if t.line.color}
    assert drawn <= legend_colours | {"#b0bec5", "#607d8b"}


def test_a_dead_letter_topic_sits_right_after_the_topic_it_serves_and_no_edge_crosses_a_box(store) -> None:
    nodes, edges = _declared(store)
    lay = topology_layout.layout(nodes, edges)
    for dlt, served in (("topic:warehouse-sink-dlq", "topic:shop.payments"), ("topic:shop.orders.DLT", "topic:shop.orders")):
        a, b = lay.boxes[dlt], lay.boxes[served]
        if lay.direction == "LR":  # same column, the next box down
            assert a.x == b.x and a.y > b.y, (dlt, a, b)
            between = [n for n, o in lay.boxes.items() if o.x == a.x and b.y < o.y < a.y]
        else:  # same row, the next box to the right
            assert a.y == b.y and a.x > b.x, (dlt, a, b)
            between = [n for n, o in lay.boxes.items() if o.y == a.y and b.x < o.x < a.x]
        assert not between, (dlt, between)
    assert topology_measure.measure(lay)["edges_on_boxes"] == 0


def test_long_names_are_shortened_in_the_middle_with_the_whole_name_on_hover() -> None:
    name = "shop.fulfillment.shipment-requested.v2.DLT"
    nodes = pd.DataFrame([dict(id=f"topic:{name}", kind="topic", name=name, detail="", severity=None,
                               declared=True, observed=True)])
    fig = topology_figure(nodes, pd.DataFrame(columns=graph.EDGE_COLUMNS))
    label = fig.layout.annotations[0].text
    assert label.startswith("<b>shop.fulfil") and label.endswith("v2.DLT</b>") and "…" in label
    marker = next(t for t in fig.data if t.name == "nodes")  # the box lets hovers through to it
    assert name in marker.text[0]


def test_a_box_counts_one_record_in_the_singular(store) -> None:
    load_into_store(store, TOPOLOGY_FILE)
    cur = store.cursor()
    seen = {"services": pd.DataFrame([dict(name="web-checkout", n=1), dict(name="orders-api", n=2)]),
            "topics": pd.DataFrame([dict(name="shop.orders", n=1)]),
            "groups": pd.DataFrame([dict(name="invoicing", n=1)])}
    nodes, _ = graph.build(read.declared_tables(cur), None, seen, [])
    detail = dict(zip(nodes["name"], nodes["detail"], strict=True))
    assert (detail["web-checkout"], detail["orders-api"]) == ("1 span", "2 spans")
    assert (detail["shop.orders"], detail["invoicing"]) == ("1 record", "1 processed")
