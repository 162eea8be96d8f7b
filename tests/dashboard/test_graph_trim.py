"""The Overview draws a cluster's graph in part past graph.MAX_DRAWN nodes (graph.trim): the
worst and busiest with their neighbours, or one node's neighbourhood."""

from __future__ import annotations

import pandas as pd

from dashboard import graph
from dashboard.graph import EDGE_COLUMNS, NODE_COLUMNS


def _graph(stars: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``stars`` producers, each writing a topic read by a group; producer i calls producer i+1
    (sync). Topic 3 has an error, every other topic a warning; star i carries 10 * i records."""
    nodes, edges = [], []
    for i in range(stars):
        svc, topic, grp = f"service:svc-{i}", f"topic:t-{i}", f"group:g-{i}"
        nodes += [dict(id=svc, kind="service", name=f"svc-{i}"),
                  dict(id=topic, kind="topic", name=f"t-{i}", severity="error" if i == 3 else "warning"),
                  dict(id=grp, kind="group", name=f"g-{i}")]
        edges += [dict(src=svc, dst=topic, kind="async", volume=10 * i),
                  dict(src=topic, dst=grp, kind="async", volume=10 * i)]
        if i + 1 < stars:
            edges.append(dict(src=svc, dst=f"service:svc-{i + 1}", kind="sync", volume=1))
    return pd.DataFrame(nodes, columns=NODE_COLUMNS), pd.DataFrame(edges, columns=EDGE_COLUMNS)


def test_a_graph_within_the_limit_is_drawn_whole() -> None:
    nodes, edges = _graph(4)
    drawn, drawn_edges = graph.trim(nodes, edges, limit=12)
    assert len(drawn) == 12 and len(drawn_edges) == len(edges)
    assert drawn.attrs["left_out"] == {}


def test_past_the_limit_the_worst_and_busiest_are_drawn_with_their_neighbours() -> None:
    nodes, edges = _graph(30)
    nodes.attrs["hidden"] = {"group": 7}  # build's idle count rides along
    drawn, drawn_edges = graph.trim(nodes, edges, limit=9)
    ids = list(drawn["id"])
    # the error first, with its producer and group; then the busiest warnings, each with theirs
    assert {"topic:t-3", "service:svc-3", "group:g-3", "topic:t-29", "service:svc-29", "group:g-29"} <= set(ids)
    assert len(ids) == 9
    assert drawn.attrs["left_out"] == {"service": 27, "topic": 27, "group": 27} and drawn.attrs["hidden"] == {"group": 7}
    assert set(drawn_edges["src"]) | set(drawn_edges["dst"]) <= set(ids)  # no edge to a node not drawn
    assert len(drawn_edges) >= 6  # every drawn star is whole


def test_the_focus_list_is_worst_then_busiest() -> None:
    nodes, edges = _graph(5)
    order = graph.ranked(nodes, edges)
    assert order[:3] == ["topic:t-3", "topic:t-4", "topic:t-2"]  # the error, then warnings by volume
    assert sorted(order) == sorted(nodes["id"])


def test_focus_draws_a_node_and_what_it_calls_feeds_or_reads_two_steps_out() -> None:
    nodes, edges = _graph(30)
    drawn, _ = graph.trim(nodes, edges, focus="topic:t-10")
    # one step: its producer and its group; two steps: the producers svc-10 calls and is called by
    assert set(drawn["id"]) == {"topic:t-10", "service:svc-10", "group:g-10", "service:svc-9", "service:svc-11"}
    assert drawn.attrs["left_out"]["topic"] == 29
