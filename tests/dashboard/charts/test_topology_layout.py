"""The topology graph's layout: nothing overlaps, nothing is cut, on the sample and on shapes it was not tuned for."""

from __future__ import annotations

import pandas as pd
import pytest

from collectors.topology import load_into_store
from dashboard import graph, read
from dashboard.analyses.window import Window
from dashboard.charts import topology_layout, topology_measure
from dashboard.charts.topology import rate_texts, topology_figure
from sample_topology import TOPOLOGY_FILE


def _graph(edges: list[tuple[str, str, str]], near: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and edges as graph.build gives them, from (src id, dst id, kind) triples."""
    ids = sorted({i for s, d, _ in edges for i in (s, d)})
    nodes = pd.DataFrame([dict(id=i, kind=i.split(":")[0], name=i.split(":", 1)[1], detail=f"{len(i) * 37:,} spans",
                               severity=None, declared=True, observed=True, near=(near or {}).get(i)) for i in ids],
                         columns=graph.NODE_COLUMNS)
    out = pd.DataFrame([dict(src=s, dst=d, kind=k, volume=10, severity=None, declared=True, observed=True,
                             per_min=12.0 if k == "sync" else None, p95_ms=45.0 if k == "sync" else None)
                        for s, d, k in edges], columns=graph.EDGE_COLUMNS)
    return nodes, out


def _fan_out() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One producer, one topic, twelve groups each run by its own service; a retry topic and a DLT."""
    e = [("service:checkout-backend", "topic:shop.order-events", "async")]
    for i in range(12):
        e += [("topic:shop.order-events", f"group:consumer-group-{i:02d}", "async"),
              (f"group:consumer-group-{i:02d}", f"service:downstream-service-{i:02d}", "async")]
    e += [("service:downstream-service-03", "topic:shop.order-events-retry-1", "async"),
          ("topic:shop.order-events-retry-1", "group:consumer-group-03", "async"),
          ("service:downstream-service-03", "topic:shop.order-events.DLT", "async")]
    return _graph(e)


def _chain_and_cycle() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight services in a row of sync calls, the last calling back into the third (a cycle), and
    a request-reply pair of topics between two of them."""
    names = [f"svc-{c}" for c in "abcdefgh"]
    e = [(f"service:{a}", f"service:{b}", "sync") for a, b in zip(names, names[1:], strict=False)]
    e += [("service:svc-h", "service:svc-c", "sync"),
          ("service:svc-b", "topic:requests.with.a.rather-long-name", "async"),
          ("topic:requests.with.a.rather-long-name", "group:responder", "async"),
          ("group:responder", "service:svc-g", "async"),
          ("service:svc-g", "topic:replies", "async"), ("topic:replies", "group:requester", "async"),
          ("group:requester", "service:svc-b", "async")]
    return _graph(e)


def _sample(store) -> tuple[pd.DataFrame, pd.DataFrame]:
    load_into_store(store, TOPOLOGY_FILE)
    cur = store.cursor()
    stats = pd.DataFrame([dict(caller="web-checkout", callee="orders-api", per_min=24.0, p95_ms=167.0),
                          dict(caller="orders-api", callee="payments-api", per_min=24.0, p95_ms=6.0),
                          dict(caller="pricing-api", callee="tax-api", per_min=24.0, p95_ms=67.0)])
    return graph.build(read.declared_tables(cur), None, read.volumes(cur, Window.everything(cur)), [],
                       sync_stats=stats)


@pytest.mark.parametrize("direction", ["LR", "TB", None])
@pytest.mark.parametrize("shape", ["fan_out", "chain_and_cycle"])
def test_no_box_overlaps_another_is_cut_or_is_crossed_on_graphs_it_was_not_tuned_for(shape, direction) -> None:
    nodes, edges = {"fan_out": _fan_out, "chain_and_cycle": _chain_and_cycle}[shape]()
    lay = topology_layout.layout(nodes, edges, direction)
    topology_layout.place_labels(lay, rate_texts(edges))
    got = topology_measure.measure(lay)
    assert got["overlaps"] == got["cut_boxes"] == got["labels_on_boxes"] == got["edges_on_boxes"] == 0, got
    assert set(lay.boxes) == set(nodes.id) and set(lay.routes) == set(zip(edges.src, edges.dst, strict=True))


def test_the_sample_shop_reads_cleanly(store) -> None:
    nodes, edges = _sample(store)
    lay = topology_layout.layout(nodes, edges)
    topology_layout.place_labels(lay, rate_texts(edges))
    got = topology_measure.measure(lay)
    assert got["overlaps"] == got["cut_boxes"] == got["labels_on_boxes"] == got["edges_on_boxes"] == 0, got
    assert lay.labels, "the measured sync rates are written on their edges"
    # The figure draws what the layout placed, at the layout's size, inside the plotted range.
    fig = topology_figure(nodes, edges)
    assert tuple(fig.layout.xaxis.range) == (0, lay.width) and tuple(fig.layout.yaxis.range) == (lay.height, 0)
    drawn = {(a.x, a.y): a for a in fig.layout.annotations if a.width}
    assert len(drawn) == len(lay.boxes)
    for box in lay.boxes.values():
        a = drawn[(box.x, box.y)]
        assert a.width + 2 * (a.borderpad + a.borderwidth) == pytest.approx(box.w)
        assert a.height + 2 * (a.borderpad + a.borderwidth) == pytest.approx(box.h)
    assert fig.layout.meta["min_width"] >= lay.width, "a narrower page scrolls the drawing rather than squeezing it"


def test_layers_run_callers_before_callees_and_topics_between_producers_and_groups() -> None:
    nodes, edges = _chain_and_cycle()
    lay = topology_layout.layout(nodes, edges, "LR")
    x = {n: b.x for n, b in lay.boxes.items()}
    chain = [f"service:svc-{c}" for c in "abcdefg"]
    assert all(x[a] < x[b] for a, b in zip(chain, chain[1:], strict=False)), "the cycle is cut at svc-h → svc-c"
    assert x["service:svc-b"] < x["topic:requests.with.a.rather-long-name"] < x["group:responder"]


def test_retry_and_dead_letter_topics_stand_right_after_the_topic_they_serve() -> None:
    nodes, edges = _fan_out()
    for direction in ("LR", "TB"):
        lay = topology_layout.layout(nodes, edges, direction)
        along = (lambda b: b.y) if direction == "LR" else (lambda b: b.x)
        layer = (lambda b: b.x) if direction == "LR" else (lambda b: b.y)
        base = lay.boxes["topic:shop.order-events"]
        same = sorted((n for n, b in lay.boxes.items() if layer(b) == layer(base)), key=lambda n: along(lay.boxes[n]))
        i = same.index("topic:shop.order-events")
        assert same[i + 1:i + 3] == ["topic:shop.order-events-retry-1", "topic:shop.order-events.DLT"], same


def test_the_same_graph_in_any_row_order_gets_the_same_picture() -> None:
    nodes, edges = _chain_and_cycle()
    a = topology_layout.layout(nodes, edges)
    b = topology_layout.layout(nodes.iloc[::-1].reset_index(drop=True), edges.iloc[::-1].reset_index(drop=True))
    assert a.boxes == b.boxes and a.routes == b.routes


def test_measure_counts_what_it_claims() -> None:
    """The yardstick itself: two boxes on top of each other with a label on both and an edge out of one
    across the other, two crossing edges, a box below the drawing."""
    box = topology_layout.Box
    lay = topology_layout.Layout(
        "LR", {"a": box(50, 50, 60, 30), "b": box(60, 55, 60, 30), "c": box(300, 20, 60, 30), "d": box(300, 90, 60, 30)},
        {("a", "d"): [(80, 50), (270, 90)], ("b", "c"): [(90, 55), (270, 20)], ("c", "d"): [(300, 35), (300, 75)]},
        340, 100, {("a", "d"): box(55, 50, 20, 10)})
    got = topology_measure.measure(lay)
    assert got == dict(crossings=1, overlaps=1, labels_on_boxes=2, edges_on_boxes=1, cut_boxes=1), got
