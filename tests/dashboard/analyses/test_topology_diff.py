"""Observed graph vs declared topology: undeclared and unobserved edges."""

from __future__ import annotations

from collectors.topology import load_into_store, parse_topology
from dashboard.analyses import topology_diff as td
from dashboard.analyses.declared import declared_topology
from tests.support.rules import rule_findings

DECLARED = {
    "services": {
        "web": {"endpoints": ["POST /checkout"], "calls": ["orders POST /orders"]},
        "orders": {"endpoints": ["POST /orders"], "calls": ["loyalty GET /members"]},
        "loyalty": {"endpoints": ["GET /members"]},
        "email": {"endpoints": ["POST /emails"], "side_effect": True},
        "sink": {},
    },
    "topics": {"shop.orders": {"producer": "orders"}, "shop.payments": {"producer": "sink"}},
    "groups": {"mailer": {"service": "email", "topics": ["shop.orders"]}},
}


def _load(store, tmp_path):
    import yaml

    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(DECLARED))
    parse_topology(DECLARED)  # the document is valid before it is loaded
    load_into_store(store, path)


def _traffic(data):
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0)
    c1 = data.span(t, "web", "client", "POST", at=0.1, parent=root)
    orders = data.span(t, "orders", "server", "POST /orders", at=0.2, parent=c1,
                       attrs={"http.request.method": "POST", "http.route": "/orders"})
    # undeclared endpoint between declared services
    c3 = data.span(t, "web", "client", "GET", at=0.25, parent=root)
    data.span(t, "orders", "server", "GET /orders/{id}", at=0.26, parent=c3,
              attrs={"http.request.method": "GET", "http.route": "/orders/{id}"})
    send = data.produce(t, "orders", "shop.orders", at=0.3, parent=orders)
    # undeclared: web waits on email synchronously
    c2 = data.span(t, "web", "client", "POST", at=0.4, parent=root)
    data.span(t, "email", "server", "POST /emails", at=0.5, parent=c2)
    data.process(t, "email", "mailer", "shop.orders", 0, 0, at=1, parent=send)
    # undeclared: a second group on the topic, known only from its offset polls
    data.poll("audit", "shop.orders", 0, 1, at=2)
    # records on shop.payments with no producer span: the declared (uninstrumented) producer wrote them
    data.record("shop.payments", 0, 0, at=3, value={"id": "p"})
    data.write()


def test_undeclared_and_unobserved_edges(data, store, window, tmp_path):
    _load(store, tmp_path)
    _traffic(data)
    topo = declared_topology(store.cursor())
    assert topo is not None and set(topo.groups) == {"mailer"}

    status = {td.edge_subject(r): r.status for r in td.diff(store.cursor(), window, topo).itertuples()}
    assert status == {
        "web -> orders POST /orders": "declared",
        "web -> orders GET /orders/{id}": "undeclared",
        "web -> email POST /emails": "undeclared",  # the SERVER span's name stands in for its route
        "orders -> loyalty GET /members": "unobserved",
        "orders -> shop.orders": "declared",
        "sink -> shop.payments": "declared",
        "shop.orders -> mailer": "declared",
        "shop.orders -> audit": "undeclared",
    }
    found = {(f.rule, f.subject): f for f in rule_findings(store.cursor(), window, topo, "UNDECLARED_EDGE", "UNOBSERVED_EDGE")}
    assert set(found) == {("UNDECLARED_EDGE", "web -> email POST /emails"), ("UNDECLARED_EDGE", "web -> orders GET /orders/{id}"),
                          ("UNDECLARED_EDGE", "shop.orders -> audit"),
                          ("UNOBSERVED_EDGE", "orders -> loyalty GET /members")}
    assert found[("UNDECLARED_EDGE", "web -> email POST /emails")].count == 1
    audit = found[("UNDECLARED_EDGE", "shop.orders -> audit")]
    assert audit.evidence["via"] == "group_offsets"
    # its offsets never moved: the flow was not "seen 0 times", it is known from the offsets
    assert audit.summary == ("event flow shop.orders -> audit known from the group's committed offsets "
                             "(nothing consumed in this window) but not declared in the topology")


def test_a_window_without_data_has_no_unobserved_edges(data, store, window, tmp_path):
    """`findings --from … --to …` over an hour nothing was collected in listed every declared edge."""
    from datetime import timedelta

    from dashboard.analyses.window import Window

    _load(store, tmp_path)
    _traffic(data)
    topo = declared_topology(store.cursor())
    empty = Window(window.start - timedelta(days=2), window.start - timedelta(days=1))
    assert rule_findings(store.cursor(), empty, topo, "UNDECLARED_EDGE", "UNOBSERVED_EDGE") == []
    assert [f.subject for f in rule_findings(store.cursor(), window, topo, "UNOBSERVED_EDGE")] == [
        "orders -> loyalty GET /members"]


def test_without_a_topology_the_observed_graph_stands_alone(data, store, window):
    _traffic(data)
    assert declared_topology(store.cursor()) is None
    assert rule_findings(store.cursor(), window, None, "UNDECLARED_EDGE", "UNOBSERVED_EDGE") == []
    g = td.observed_graph(store.cursor(), window)
    edges = {(r.src_kind, r.src, r.dst_kind, r.dst): r.volume for r in g.itertuples()}
    assert edges == {
        ("service", "web", "service", "orders"): 2,
        ("service", "web", "service", "email"): 1,
        ("service", "orders", "topic", "shop.orders"): 1,
        ("topic", "shop.orders", "group", "mailer"): 1,
        ("topic", "shop.orders", "group", "audit"): 0,
        ("group", "mailer", "service", "email"): 1,
    }


def test_a_group_idle_on_partitions_at_different_offsets_moved_nothing(data, store, window):
    """A group's volume is what its partitions advanced, not the spread between partitions."""
    for at, (p0, p1) in ((0, (62_500, 10)), (5, (62_500, 10)), (10, (62_500, 10))):
        data.poll("old-bench", "shop.orders", 0, p0, at=at)
        data.poll("old-bench", "shop.orders", 1, p1, at=at)
    for at, (p0, p1) in ((0, (100, 200)), (10, (130, 205))):
        data.poll("billing", "shop.orders", 0, p0, at=at)
        data.poll("billing", "shop.orders", 1, p1, at=at)
    data.write()
    g = td.observed_graph(store.cursor(), window)
    volume = dict(zip(g.dst, g.volume, strict=True))
    assert volume == {"old-bench": 0, "billing": 35}
