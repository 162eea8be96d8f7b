"""Redeliveries by cause, rate and drill-down; duplicate publications vs id collisions."""

from __future__ import annotations

from datetime import timedelta

from dashboard.analyses import redeliveries as rd
from tests.support.rules import rule_findings


def _by_key(df):
    return {(r.group, r.topic, r.partition, r.offset): r for r in df.itertuples(index=False)}


def test_each_redelivery_cause_is_told_apart(data, store, window):
    # restart: reporting processed offset 5 on one instance, crashed, the next instance read it again
    t = data.trace_id()
    data.process(t, "reporting", "reporting", "orders", 0, 5, at=10, instance="rep-a", error=True)
    data.process(t, "reporting", "reporting", "orders", 0, 5, at=95, instance="rep-b")
    # blocking retry: one instance, two seconds apart
    t = data.trace_id()
    data.process(t, "billing", "billing", "payments", 1, 7, at=20, instance="bill-1", error=True)
    data.process(t, "billing", "billing", "payments", 1, 7, at=22, instance="bill-1")
    # retry topic: the copy on payments-retry-0 points back at payments/1/8
    t = data.trace_id()
    data.record("payments", 1, 8, at=29, value={"eventId": "p8", "type": "PaymentCaptured"})
    data.process(t, "billing", "billing", "payments", 1, 8, at=30, instance="bill-1", error=True)
    data.record("payments-retry-0", 0, 0, at=31, value={"eventId": "p8", "type": "PaymentCaptured"},
                headers=[("kafka_original-topic", "payments"), ("kafka_original-partition", b"\0\0\0\1"),
                         ("kafka_original-offset", b"\0\0\0\0\0\0\0\x08")])
    data.process(t, "billing", "billing", "payments-retry-0", 0, 0, at=40, instance="bill-1")
    # offset reset: analytics read 0..2, the committed offset went from 3 back to 0, it read 0..2 again
    for off in range(3):
        data.process(data.trace_id(), "analytics", "analytics", "orders", 0, off, at=50 + off, instance="an-1")
    data.poll("analytics", "orders", 0, 3, at=55)
    data.poll("analytics", "orders", 0, 0, at=60)
    for off in range(3):
        data.process(data.trace_id(), "analytics", "analytics", "orders", 0, off, at=70 + off, instance="an-2")
    # processed once: not a redelivery
    data.process(data.trace_id(), "analytics", "analytics", "orders", 0, 3, at=73, instance="an-2")
    data.write()

    rows = _by_key(rd.redeliveries(store.cursor(), window))
    assert {k: r.cause for k, r in rows.items()} == {
        ("reporting", "orders", 0, 5): "restart_rebalance",
        ("billing", "payments", 1, 7): "blocking_retry",
        ("billing", "payments", 1, 8): "retry_topic",
        ("analytics", "orders", 0, 0): "offset_reset",
        ("analytics", "orders", 0, 1): "offset_reset",
        ("analytics", "orders", 0, 2): "offset_reset",
    }
    assert rows[("billing", "payments", 1, 8)].read_from.tolist() == ["payments", "payments-retry-0"]

    drill = rd.processings_of(store.cursor(), window, group="reporting", topic="orders", partition=0, offset=5)
    assert drill["service_instance"].tolist() == ["rep-a", "rep-b"]
    assert drill["status_code"].tolist() == [2, 0]

    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "REDELIVERY", "DUPLICATE_PUBLISH", "EVENT_ID_COLLISION") if f.rule == "REDELIVERY"}
    assert found["analytics"].count == 3 and found["analytics"].evidence["causes"] == {"offset_reset": 3}
    assert found["reporting"].evidence["records"][0]["instances"] == ["rep-a", "rep-b"]
    # one restart is at-least-once delivery at work: info, first seen at the redelivery
    assert found["reporting"].severity == "info"
    assert found["reporting"].first_seen == window.start + timedelta(hours=1, seconds=95)  # T0 + 95 s


def test_a_crash_looping_consumer_is_a_warning(data, store, window):
    t = data.trace_id()
    for n in range(4):  # three restarts, each re-reading the uncommitted offsets 0..1
        for off in range(2):
            data.process(t, "reporting", "reporting", "orders", 0, off, at=60 * n + off, instance=f"rep-{n}")
    data.write()
    (found,) = [f for f in rule_findings(store.cursor(), window, None, "REDELIVERY", "DUPLICATE_PUBLISH", "EVENT_ID_COLLISION") if f.rule == "REDELIVERY"]
    assert (found.severity, found.count, found.evidence["restarts"]) == ("warning", 2, 3)


def test_receive_and_process_spans_of_one_delivery_are_one_processing(data, store, window):
    t = data.trace_id()
    recv = data.span(t, "email", "consumer", "receive orders", at=1, attrs={
        "messaging.operation": "receive", "messaging.destination": "orders",
        "messaging.kafka.consumer_group": "email", "messaging.kafka.partition": 0,
        "messaging.kafka.message.offset": 4})
    data.process(t, "email", "email", "orders", 0, 4, at=1.1, parent=recv)
    data.write()
    assert rd.redeliveries(store.cursor(), window).empty


def test_redelivery_rate_counts_extra_processings_per_bucket(data, store, window):
    for off in range(4):
        data.process(data.trace_id(), "email", "email", "orders", 0, off, at=off)
    data.process(data.trace_id(), "email", "email", "orders", 0, 1, at=5)
    data.write()
    rate = rd.redelivery_rate(store.cursor(), window)
    assert rate["processings"].sum() == 5 and rate["redeliveries"].sum() == 1


def test_duplicate_publication_and_id_collision(data, store, window):
    same = {"eventId": "o-1", "type": "OrderCreated", "total": 10}
    data.record("orders", 0, 10, at=1, value=same)
    data.record("orders", 0, 11, at=1.2, value=same)  # producer retry: same bytes at a second offset
    data.record("orders", 0, 12, at=2, value={"eventId": "o-2", "type": "OrderCreated", "total": 5})
    data.record("orders", 1, 3, at=3, value={"eventId": "o-2", "type": "OrderCreated", "total": 99})
    data.record("orders", 1, 4, at=4, value={"eventId": "o-3", "type": "OrderCreated", "total": 1})
    data.write()

    df = rd.duplicate_publications(store.cursor(), window)
    assert dict(zip(df["event_id"], df["kind"], strict=True)) == {"o-1": "duplicate", "o-2": "collision"}
    found = {f.rule: f for f in rule_findings(store.cursor(), window, None, "REDELIVERY", "DUPLICATE_PUBLISH", "EVENT_ID_COLLISION")}
    assert found["DUPLICATE_PUBLISH"].count == 2  # records involved: the event and its copy
    assert [loc["offset"] for loc in found["DUPLICATE_PUBLISH"].evidence["event_ids"][0]["locations"]] == [10, 11]
    assert found["EVENT_ID_COLLISION"].severity == "error"
    assert found["EVENT_ID_COLLISION"].evidence["event_ids"][0]["event_id"] == "o-2"


def test_a_topic_mirrored_to_another_cluster_is_not_published_twice(data, store, window):
    """MirrorMaker copies orders to the DR cluster, at other offsets: each cluster's log holds the
    event once. An event published twice within one cluster still is, and a position's records
    are counted in their own cluster."""
    from dashboard.analyses import records as recs

    def record(cluster: str, offset: int, at: float, event: str) -> None:
        data.record("orders", 0, offset, at=at, key=event, value={"eventId": event, "type": "OrderCreated"})
        data.records[-1]["cluster"] = cluster

    record("test", 0, 10, "o-1")
    record("dr", 5, 11, "o-1")  # the mirror's copy
    record("dr", 6, 12, "o-2")
    record("dr", 7, 13, "o-2")  # published twice on the DR cluster itself
    record("dr", 0, 30, "o-9")  # the DR topic's own offset 0, tapped later
    data.write()
    cur = store.cursor()

    df = rd.duplicate_publications(cur, window)
    assert list(zip(df["cluster"], df["event_id"], df["copies"], strict=True)) == [("dr", "o-2", 2)]
    assert recs.duplicate_publications(cur, recs.record(cur, "orders", 0, 0, cluster="test")).empty
    mirrored = recs.record(cur, "orders", 0, 5, cluster="dr")
    assert recs.duplicate_publications(cur, mirrored).empty
    at = recs.record(cur, "orders", 0, 0, cluster="test")["tapped_at"]
    assert recs.nth_at(cur, "orders", 0, 0, at, cluster="test") == 0  # the newest of its own cluster
    assert recs.nth_at(cur, "orders", 0, 0, at) == 1  # over every cluster, DR's later record counts


def test_redeliveries_across_derive_calls_and_late_spans(data, store, window):
    # a redelivery whose processings are derived in separate calls is still one redelivery
    data.process(data.trace_id(), "email", "email", "orders", 0, 7, at=1, instance="em-1")
    data.write()
    t = data.trace_id()
    data.process(t, "email", "email", "orders", 0, 7, at=90, instance="em-2")
    data.write()
    # a trace that gets a late span is derived again: its processing is not counted twice
    late = data.trace_id()
    proc = data.process(late, "email", "email", "orders", 0, 8, at=2, instance="em-1")
    data.write()
    data.span(late, "email", "client", "INSERT outbox", at=2.1, parent=proc,
              attrs={"db.system": "postgresql", "db.operation": "INSERT"})
    data.write()

    rows = _by_key(rd.redeliveries(store.cursor(), window))
    assert {k: (r.processings, r.cause) for k, r in rows.items()} == {
        ("email", "orders", 0, 7): (2, "restart_rebalance")}
    rate = rd.redelivery_rate(store.cursor(), window)
    assert rate["processings"].sum() == 3 and rate["redeliveries"].sum() == 1
