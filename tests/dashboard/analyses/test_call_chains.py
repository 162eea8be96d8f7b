"""Synchronous call-chain depth (docs/architecture.md#synchronous-call-chain-depth) on small hand-built traces, derived for real."""

from __future__ import annotations

from datetime import timedelta

from collectors.derive import derive
from dashboard.analyses import call_chains


def _segments(store, window):
    return call_chains.segments(store.cursor(), window).set_index("entry_service")


def test_chain_depth_path_fan_out_and_leaf_calls(data, store, window):
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0, dur=1)
    orders = data.call(t, "web", "orders", "/orders", at=0.1, parent=root, dur=0.5)
    data.call(t, "orders", "accounts", "/accounts/{id}", at=0.1, parent=orders)
    pricing = data.call(t, "orders", "pricing", "/quotes", at=0.2, parent=orders, dur=0.2)
    data.call(t, "pricing", "tax", "/tax", at=0.2, parent=pricing, dur=0.1)
    data.span(t, "orders", "client", "INSERT orders", at=0.3, parent=orders,
              attrs={"db.system": "postgresql", "db.operation": "INSERT"})
    data.span(t, "orders", "client", "GET", at=0.35, parent=orders, attrs={"peer.service": "fx-provider"})
    data.write()

    seg = _segments(store, window).loc["web"]
    assert seg["depth"] == 3
    assert list(seg["service_path"]) == ["web", "orders", "pricing", "tax"]
    assert seg["fan_out"] == 2  # orders called accounts and pricing
    assert seg["leaf_calls"] == 2  # the DB call and the call to a service with no SERVER span
    assert seg["path_latency_ms"] == 1000 + 500 + 200 + 100
    # the entry point's latency is what the caller waited, not the nested spans summed again
    entry = call_chains.depth_by_entry(store.cursor(), window).set_index("entry_service").loc["web"]
    assert entry["p95_latency_ms"] == 1000
    facts = store.cursor().execute("SELECT max_depth, root_service FROM trace_facts").fetchall()
    assert facts == [(3, "web")]


def test_kinds_missing_fall_back_to_remote_parent_flag(data, store, window):
    t = data.trace_id()
    a = data.span(t, "gateway", None, "handle", at=0, dur=1)
    b = data.span(t, "orders", None, "handle", at=0.1, parent=a, flags=data.REMOTE)
    c = data.span(t, "orders", None, "local work", at=0.1, parent=b)  # same service: not a hop
    data.span(t, "stock", None, "handle", at=0.2, parent=c, flags=data.REMOTE)
    # remote flag without the "is known" bit does not count
    data.span(t, "audit", None, "handle", at=0.3, parent=c, flags=0x200)
    data.write()

    seg = _segments(store, window).loc["gateway"]
    assert seg["depth"] == 2
    assert list(seg["service_path"]) == ["gateway", "orders", "stock"]


def test_consumer_span_and_children_of_producer_start_new_segments(data, store, window):
    t = data.trace_id()
    root = data.span(t, "orders", "server", "POST /orders", at=0, dur=1)
    data.call(t, "orders", "accounts", "/accounts/{id}", at=0.1, parent=root)
    send = data.produce(t, "orders", "shop.orders", at=0.5, parent=root)
    # kafka-python style: the consumer is the producer's child, in the same trace
    proc = data.process(t, "email", "email", "shop.orders", 0, 7, at=2, parent=send)
    data.call(t, "email", "orders", "/orders/{id}", at=2.1, parent=proc)
    # a non-CONSUMER child of a PRODUCER span (e.g. an uninstrumented handler) is cut too
    after = data.span(t, "audit", "internal", "handle", at=2.5, parent=send)
    data.call(t, "audit", "orders", "/orders/{id}", at=2.6, parent=after)
    data.write()

    segs = _segments(store, window)
    assert len(segs) == 3
    assert segs.loc["orders", "depth"] == 1
    assert segs.loc["orders", "cause"] == "root"
    assert segs.loc["email", "cause"] == "consumer" and segs.loc["email", "depth"] == 1
    assert segs.loc["email", "consumer_group"] == "email"
    assert segs.loc["audit", "cause"] == "after_producer" and segs.loc["audit", "depth"] == 1
    # the trace's depth is the deepest segment's, not a sum across the async cut
    assert store.cursor().execute("SELECT max_depth, segments FROM trace_facts").fetchone() == (1, 3)


def test_messaging_client_spans_are_broker_calls_not_hops(data, store, window):
    t = data.trace_id()
    root = data.span(t, "billing", "server", "POST /bills", at=0, dur=1)
    # a messaging CLIENT span (new semconv receive/settle) with a SERVER-kind span under it
    # from another service: still a broker call, not a hop
    recv = data.span(t, "billing", "client", "receive shop.orders", at=0.1, parent=root,
                     attrs={"messaging.system": "kafka", "messaging.operation.type": "receive"})
    data.span(t, "broker-proxy", "server", "fetch", at=0.1, parent=recv, flags=data.REMOTE)
    data.write()

    seg = _segments(store, window).loc["billing"]
    assert seg["depth"] == 0 and seg["hops"] == 0


def test_trace_chain_waterfall_rows(data, store, window):
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0, dur=1)
    orders = data.call(t, "web", "orders", "/orders", at=0.1, parent=root)
    data.span(t, "orders", "client", "INSERT orders", at=0.2, parent=orders, attrs={"db.system": "postgresql"})
    send = data.produce(t, "orders", "shop.orders", at=0.3, parent=orders)
    data.process(t, "email", "email", "shop.orders", 0, 1, at=1.5, parent=send)
    data.write()

    rows = call_chains.trace_chain(store.cursor(), t).set_index("name")
    assert len(rows) == 6
    assert rows.loc["GET /orders"].query("kind == 'SERVER'")["role"].item() == "hop"
    assert rows.loc["INSERT orders", "role"] == "leaf"
    assert rows.loc["send shop.orders", "role"] == "send"
    assert rows.loc["process shop.orders", "segment_cause"] == "consumer"
    assert rows.loc["process shop.orders", "depth"] == 0
    assert rows["offset_ms"].min() == 0


def test_distribution_and_worst_chains(data, store, window):
    for i, depth in enumerate([1, 1, 2, 4]):
        t = data.trace_id()
        parent = data.span(t, "web", "server", "POST /checkout", at=i, dur=1)
        for d in range(depth):
            parent = data.call(t, f"svc{d}", f"svc{d + 1}", f"/r{d}", at=i + 0.1, parent=parent)
    data.write()

    cur = store.cursor()
    dist = call_chains.depth_by_entry(cur, window, limit_depth=3)
    assert dist[["segments", "max_depth", "over_limit"]].values.tolist() == [[4, 4, 1]]
    hist = call_chains.depth_histogram(cur, window)
    assert dict(zip(hist["depth"], hist["segments"], strict=True)) == {1: 2, 2: 1, 4: 1}
    worst = call_chains.worst_chains(cur, window, limit=1)
    assert worst["depth"].tolist() == [4]


def test_derive_waits_for_quiet_traces_and_rederives_late_spans(data, store):
    t = data.trace_id()
    root = data.span(t, "web", "server", "GET /", at=0, dur=1)
    data.write(derived=False)
    # newest span ended at T0+1 s: not quiet 10 s later with a 30 s quiet period
    r = derive(store, quiet_for=timedelta(seconds=30), now=data.T0 + timedelta(seconds=10))
    assert (r.traces, r.pending) == (0, 1)
    r = derive(store, quiet_for=timedelta(seconds=30), now=data.T0 + timedelta(seconds=60))
    assert (r.traces, r.pending) == (1, 0)
    assert derive(store, quiet_for=timedelta(0)).traces == 0  # idempotent: nothing new
    # a late span deepens the trace: derived again, old rows replaced
    data.call(t, "web", "orders", "/orders", at=0.2, parent=root)
    data.write()
    cur = store.cursor()
    assert cur.execute("SELECT count(*), max(depth) FROM trace_segments").fetchone() == (1, 1)
    assert cur.execute("SELECT count(*), max(max_depth) FROM trace_facts").fetchone() == (1, 1)
