"""The Trace page's reads: one span in full, and the producer and consumer traces of its messages."""

from __future__ import annotations

from dashboard.analyses import traces


def test_span_detail_decodes_attributes_status_events_and_links(data, store) -> None:
    t, other = data.trace_id(), data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0, dur=1, attrs={"http.route": "/checkout",
                                                                               "http.response.status_code": 500},
                     error=True, events=[("exception", 0.25, {"exception.type": "TimeoutError"})],
                     links=[(other, "00000000000000aa", {"why": "retry"})])
    data.write()

    d = traces.span_detail(store.cursor(), t, root)
    assert (d["service"], d["name"], d["kind"], d["status"], d["status_message"]) == (
        "web", "POST /checkout", "SERVER", "error", "boom")
    assert d["attributes"]["http.response.status_code"] == 500
    assert d["resource"]["service.name"] == "web"
    assert d["events"] == [{"name": "exception", "offset_ms": 250.0,
                            "attributes": {"exception.type": "TimeoutError"}}]
    assert d["links"] == [{"trace_id": other, "span_id": "00000000000000aa", "attributes": {"why": "retry"}}]
    assert d["duration_ms"] == 1000
    assert traces.span_detail(store.cursor(), t, "ffffffffffffffff") is None
    assert traces.span_detail(store.cursor(), "f" * 32, root) is None


def test_producer_and_consumer_traces_reach_each_other(data, store) -> None:
    """A consumer in its own trace, linked to the producer span: each trace names the other."""
    pt, ct = data.trace_id(), data.trace_id()
    root = data.span(pt, "orders", "server", "POST /orders", at=0, dur=1)
    send = data.produce(pt, "orders", "shop.orders", at=0.5, parent=root, partition=0, offset=7)
    proc = data.process(ct, "email", "email", "shop.orders", 0, 7, at=3, links=[(pt, send)])
    data.write()
    cur = store.cursor()

    up = traces.producers(cur, ct)
    assert list(zip(up["span_id"], up["other_trace_id"], up["other_span_id"], up["pairing"], strict=True)) == [
        (proc, pt, send, "link")]
    down = traces.consumers(cur, pt)
    assert list(zip(down["span_id"], down["other_trace_id"], down["other_span_id"], down["consumer_group"],
                    strict=True)) == [(send, ct, proc, "email")]
    assert traces.consumers(cur, ct).empty and traces.producers(cur, pt).empty
    assert list(traces.links(cur, ct)["other_span_id"]) == [send]


def test_a_consumer_child_of_its_producer_pairs_within_the_trace(data, store) -> None:
    t = data.trace_id()
    send = data.produce(t, "orders", "shop.orders", at=0.5, partition=0, offset=1)
    proc = data.process(t, "email", "email", "shop.orders", 0, 1, at=2, parent=send)
    data.write()

    up = traces.producers(store.cursor(), t)
    assert list(zip(up["other_trace_id"], up["other_span_id"], up["pairing"], strict=True)) == [(t, send, "parent")]
    assert list(traces.consumers(store.cursor(), t)["other_span_id"]) == [proc]
