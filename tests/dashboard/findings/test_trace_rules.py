"""The trace-side rules on small hand-built data: what fires, what stays quiet."""

from __future__ import annotations

import pytest

from collectors.topology import parse_topology
from tests.support.rules import rule_findings

TOPOLOGY = parse_topology({
    "limits": {"max_sync_depth": 2},
    "services": {"web": {"endpoints": ["POST /checkout"]}, "orders": {"endpoints": ["GET /orders/{id}"]},
                 "mailer": {"side_effect": True, "endpoints": ["POST /emails"]}, "ship": {}, "billing": {}},
    "topics": {"orders": {"producer": "orders"}, "quotes": {"producer": "web"}, "quoted": {"producer": "billing"}},
    "groups": {"ship": {"service": "ship", "topics": ["orders"]},
               "billing": {"service": "billing", "topics": ["quotes"]}},
})


def _rules(found, rule):
    return [f for f in found if f.rule == rule]


def test_long_sync_chain_uses_the_topology_limit(data, store, window):
    traces = []
    for i, depth in enumerate([2, 3, 3]):
        t = data.trace_id()
        traces.append(t)
        parent = data.span(t, "web", "server", "POST /checkout", at=i, dur=1)
        for d in range(depth):
            parent = data.call(t, f"s{d}", f"s{d + 1}", f"/r{d}", at=i + 0.1, parent=parent)
    data.write()
    found = rule_findings(store.cursor(), window, TOPOLOGY, "LONG_SYNC_CHAIN")
    assert [(f.subject, f.count, f.severity) for f in found] == [("web POST /checkout", 2, "warning")]
    assert found[0].evidence["trace_ids"] == traces[1:]
    assert found[0].first_seen == data.at(1) and found[0].last_seen == data.at(2)
    # the default limit (3) without a topology: nothing exceeds it
    assert rule_findings(store.cursor(), window, None, "LONG_SYNC_CHAIN") == []


def test_sync_side_effect_only_for_user_facing_requests(data, store, window):
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0, dur=1)
    data.call(t, "web", "mailer", "/emails", at=0.2, parent=root, method="POST")
    # a consumer calling the mailer is not a user waiting on it
    consumer_trace = data.trace_id()
    c = data.process(consumer_trace, "ship", "ship", "orders", 0, 1, at=5)
    data.call(consumer_trace, "ship", "mailer", "/emails", at=5.1, parent=c, method="POST")
    data.write()
    found = rule_findings(store.cursor(), window, TOPOLOGY, "SYNC_SIDE_EFFECT")
    assert [(f.subject, f.count) for f in found] == [("web -> mailer POST /emails", 1)]
    assert found[0].evidence["trace_ids"] == [t]
    assert rule_findings(store.cursor(), window, None, "SYNC_SIDE_EFFECT") == []


@pytest.mark.parametrize(("calling", "fires"), [(6, True), (4, False)])
def test_callback_chatter_when_most_events_call_the_producer(data, store, window, calling, fires):
    for i in range(8):
        producer = data.trace_id()
        send = data.produce(producer, "orders", "orders", at=i - 0.5)
        t = data.trace_id()
        c = data.process(t, "ship", "ship", "orders", 0, i, at=i, links=[(producer, send)])
        if i < calling:
            data.call(t, "ship", "orders", "/orders/{id}", at=i + 0.1, parent=c)
    data.write()
    found = rule_findings(store.cursor(), window, TOPOLOGY, "CALLBACK_CHATTER")
    if fires:
        assert [(f.subject, f.count, f.evidence["processed"]) for f in found] == [("ship", 6, 8)]
    else:
        assert found == []


def _quote_round_trip(data, i, *, wait: bool):
    """web publishes a quote request; billing answers on another topic; web consumes the answer."""
    t = data.trace_id()
    req = data.span(t, "web", "server", "POST /checkout", at=i, dur=3 if wait else 0.5)
    send = data.produce(t, "web", "quotes", at=i + 0.1, parent=req)
    proc = data.process(t, "billing", "billing", "quotes", 0, i, at=i + 0.5, parent=send)
    reply = data.produce(t, "billing", "quoted", at=i + 0.6, parent=proc)
    data.process(t, "web", "web", "quoted", 0, i, at=i + 1, parent=reply)
    return t


def test_passive_aggressive_event(data, store, window):
    waited = [_quote_round_trip(data, i, wait=True) for i in range(2)]
    _quote_round_trip(data, 10, wait=False)  # the request had answered before the reply came
    data.write()
    found = rule_findings(store.cursor(), window, TOPOLOGY, "PASSIVE_AGGRESSIVE_EVENT")
    assert [(f.subject, f.count) for f in found] == [("quotes", 2)]
    assert found[0].evidence["trace_ids"] == waited and found[0].evidence["reply_topic"] == "quoted"


def test_no_passive_aggressive_event_when_several_groups_consume(data, store, window):
    t = _quote_round_trip(data, 0, wait=True)
    data.process(data.trace_id(), "audit", "audit", "quotes", 0, 0, at=2, links=[(t, data.spans[2]["span_id"])])
    data.write()
    assert rule_findings(store.cursor(), window, TOPOLOGY, "PASSIVE_AGGRESSIVE_EVENT") == []


def test_consumer_lag_severity_follows_burrow_status(data, store, window):
    for s in range(0, 150, 10):
        data.poll("slow", "orders", 0, 5 * s, at=s, high_watermark=10 * s + 10)
        data.poll("stuck", "orders", 1, 300, at=s, high_watermark=400 + s)
        data.poll("fine", "orders", 2, 10 * s, at=s, high_watermark=10 * s)
    data.write()
    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "CONSUMER_LAG")}
    assert set(found) == {"slow", "stuck"}
    assert (found["slow"].severity, found["slow"].evidence["status"]) == ("warning", "WARN")
    assert (found["stuck"].severity, found["stuck"].evidence["status"]) == ("error", "ERR")
    assert found["stuck"].evidence["worst_partition_status"] == "STALL"
    assert found["stuck"].count == 400 + 140 - 300  # messages behind at the last bad poll
    assert found["slow"].first_seen == data.at(40)  # the fifth commit: half a window is judged, as Burrow does
