"""REQUEST_REPLY_OVER_EVENTS: a handler that publishes and then reads the correlated reply on another topic."""

from __future__ import annotations

from tests.support.rules import rule_findings


def _receive(data, trace, service, topic, partition, offset, *, at, parent, dur=0.01, kind="client"):
    """A receive span (a CLIENT span in the current conventions, a CONSUMER span in the older ones)."""
    return data.span(trace, service, kind, f"receive {topic}", at=at, dur=dur, parent=parent, attrs={
        "messaging.system": "kafka", "messaging.operation.type": "receive", "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset})


def _request(data, service, route, *, at, dur):
    t = data.trace_id()
    return t, data.span(t, service, "server", f"PUT {route}", at=at, dur=dur,
                        attrs={"http.request.method": "PUT", "http.route": route})


def _found(data, store, window):
    data.write()
    return rule_findings(store.cursor(), window, None, "REQUEST_REPLY_OVER_EVENTS")


def test_a_handler_waiting_for_its_reply_is_flagged_with_the_added_latency(data, store, window):
    # correlated by a reply-to header on the request record
    t1, s1 = _request(data, "accounts-api", "/address", at=1, dur=0.5)
    p1 = data.produce(t1, "accounts-api", "shop.address-checks", at=1.01, parent=s1, partition=0, offset=0)
    data.record("shop.address-checks", 0, 0, at=1.01, key="a-1", trace=(t1, p1), value={"eventId": "q-1"},
                headers=[("kafka_replyTopic", "shop.address-checks.replies"), ("kafka_correlationId", "c-1")])
    _receive(data, t1, "accounts-api", "shop.address-checks.replies", 0, 0, at=1.3, parent=s1, dur=0.01)
    data.record("shop.address-checks.replies", 0, 0, at=1.25, key="a-1", value={"eventId": "r-1"})
    # correlated by ids: the reply names the request as its cause (an older CONSUMER-kind receive)
    t2, s2 = _request(data, "accounts-api", "/address", at=2, dur=0.5)
    p2 = data.produce(t2, "accounts-api", "shop.address-checks", at=2.01, parent=s2, partition=0, offset=1)
    data.record("shop.address-checks", 0, 1, at=2.01, key="a-2", trace=(t2, p2), value={"eventId": "q-2"})
    _receive(data, t2, "accounts-api", "shop.address-checks.replies", 0, 1, at=2.1, parent=s2, kind="consumer")
    data.record("shop.address-checks.replies", 0, 1, at=2.05, key="a-2",
                value={"eventId": "r-2", "causationId": "q-2"})
    # healthy: fire and forget
    t3, s3 = _request(data, "accounts-api", "/profile", at=3, dur=0.1)
    data.produce(t3, "accounts-api", "shop.accounts", at=3.01, parent=s3)
    # healthy: a read of another topic that is not the request's reply
    t4, s4 = _request(data, "orders-api", "/orders", at=4, dur=0.5)
    p4 = data.produce(t4, "orders-api", "shop.orders", at=4.01, parent=s4, partition=0, offset=0)
    data.record("shop.orders", 0, 0, at=4.01, key="o-1", trace=(t4, p4), value={"eventId": "o-1"})
    _receive(data, t4, "orders-api", "shop.config", 0, 0, at=4.2, parent=s4)
    data.record("shop.config", 0, 0, at=3.5, key="cfg", value={"eventId": "cfg-1"})
    # healthy: the reply is read by another consumer after the request answered (not in the handler)
    t5, s5 = _request(data, "web-checkout", "/quotes", at=5, dur=0.05)
    p5 = data.produce(t5, "web-checkout", "shop.quote-requested", at=5.01, parent=s5)
    c5 = data.process(t5, "shipping-service", "shipping", "shop.quote-requested", at=5.1, parent=p5)
    r5 = data.produce(t5, "shipping-service", "shop.quoted", at=5.11, parent=c5)
    data.process(t5, "web-checkout", "quotes", "shop.quoted", at=5.2, parent=r5)

    [f] = _found(data, store, window)
    assert (f.subject, f.subject_kind, f.severity, f.count) == ("accounts-api PUT /address", "endpoint", "warning", 2)
    assert sorted(f.evidence["trace_ids"]) == sorted([t1, t2])
    assert (f.evidence["request_topic"], f.evidence["reply_topic"]) == ("shop.address-checks", "shop.address-checks.replies")
    assert f.evidence["correlated_by"] == ["correlation id", "reply-to header"]
    # waits: 1.01 s → 1.31 s and 2.01 s → 2.11 s
    assert f.evidence["added_latency_ms"] == {"p50": 200.0, "max": 300.0}


def test_a_reply_correlated_through_the_trace_counts_too(data, store, window):
    t, s = _request(data, "accounts-api", "/address", at=1, dur=0.5)
    p = data.produce(t, "accounts-api", "shop.address-checks", at=1.01, parent=s)
    c = data.process(t, "address-service", "address-check", "shop.address-checks", at=1.1, parent=p)
    data.produce(t, "address-service", "shop.address-checks.replies", at=1.12, parent=c)
    _receive(data, t, "accounts-api", "shop.address-checks.replies", 0, 0, at=1.2, parent=s)
    [f] = _found(data, store, window)
    assert f.evidence["correlated_by"] == ["trace"] and f.count == 1
