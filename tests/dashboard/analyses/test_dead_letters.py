"""Dead letters by origin, group and error, and whether the origin record recovered."""

from __future__ import annotations

import pandas as pd

from collectors.normalize.header_values import readable_headers
from dashboard.analyses import dead_letters as dl
from tests.support.rules import rule_findings

POISON = {"eventId": "o-9", "type": "OrderCreated", "total": "NaN"}


def _spring_dlt(data, offset, *, at, origin_offset, group="email", value=POISON):
    data.record("shop.orders.DLT", 0, offset, at=at, value=value, headers=[
        ("kafka_dlt-original-topic", "shop.orders"), ("kafka_dlt-original-partition", b"\0\0\0\2"),
        ("kafka_dlt-original-offset", origin_offset.to_bytes(8, "big")),
        ("kafka_dlt-original-consumer-group", group),
        ("kafka_dlt-exception-fqcn", "org.springframework.kafka.listener.ListenerExecutionFailedException"),
        ("kafka_dlt-exception-cause-fqcn", "java.lang.NumberFormatException"),
        ("kafka_dlt-exception-message", "For input string: \"NaN\""),
    ])


def test_dead_letter_later_reprocessed_vs_still_open(data, store, window):
    t = data.trace_id()
    data.record("shop.orders", 2, 40, at=0, value=POISON)
    data.process(t, "email-service", "email", "shop.orders", 2, 40, at=1, error=True)
    _spring_dlt(data, 0, at=2, origin_offset=40)
    # after a fix, the group reads the origin record again (offset reset) and succeeds
    data.process(t, "email-service", "email", "shop.orders", 2, 40, at=600)
    # a second poison record that nobody fixed
    data.record("shop.orders", 2, 41, at=3, value=POISON | {"eventId": "o-10"})
    _spring_dlt(data, 1, at=4, origin_offset=41, value=POISON | {"eventId": "o-10"})
    # Kafka Connect sink: string headers; the same event published again later on the origin topic
    payment = {"id": "pay-1", "type": "PaymentCaptured", "amount": -1}
    data.record("shop.payments", 0, 7, at=5, value=payment)
    data.record("warehouse-sink-dlq", 0, 0, at=6, value=payment, headers=[
        ("__connect.errors.topic", "shop.payments"), ("__connect.errors.partition", "0"),
        ("__connect.errors.offset", "7"), ("__connect.errors.connector.name", "warehouse-sink"),
        ("__connect.errors.exception.class.name", "org.apache.kafka.connect.errors.DataException"),
        ("__connect.errors.exception.message", "negative amount")])
    data.record("shop.payments", 0, 9, at=900, value=payment)
    # a retry-topic copy is a retry in flight, not a dead letter
    data.record("shop.orders-retry-0", 0, 0, at=7, value=POISON, headers=[
        ("kafka_original-topic", "shop.orders"), ("kafka_original-partition", b"\0\0\0\2"),
        ("kafka_original-offset", (40).to_bytes(8, "big"))])
    data.write()

    df = dl.dead_letters(store.cursor(), window)
    got = {(r.dlt_topic, r.dlt_offset): (r.origin_topic, r.origin_offset, r.group,
                                               None if pd.isna(r.recovered_by) else r.recovered_by)
           for r in df.itertuples(index=False)}
    assert got == {
        ("shop.orders.DLT", 0): ("shop.orders", 40, "email", "reprocessed"),
        ("shop.orders.DLT", 1): ("shop.orders", 41, "email", None),
        ("warehouse-sink-dlq", 0): ("shop.payments", 7, "connect-warehouse-sink", "republished"),
    }
    first = df.iloc[0]
    assert first["error_class"] == "java.lang.NumberFormatException"
    assert "NaN" in first["value_excerpt"]
    headers = dict(readable_headers(first["headers"]))
    assert headers["kafka_dlt-original-consumer-group"] == "email"
    assert (headers["kafka_dlt-original-partition"], headers["kafka_dlt-original-offset"]) == ("2", "40")

    summ = dl.summary(store.cursor(), window)
    email = summ[summ["group"] == "email"].iloc[0]
    assert (email["dead_letters"], email["recovered"]) == (2, 1)
    assert dl.over_time(store.cursor(), window)["dead_letters"].sum() == 3

    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "DEAD_LETTER")}
    orders = found["shop.orders.DLT"]
    assert (orders.severity, orders.count, orders.evidence["unrecovered"]) == ("error", 2, 1)
    assert orders.evidence["groups"] == ["email"]
    assert [r["origin"]["offset"] for r in orders.evidence["records"]] == [40, 41]
    sink = found["warehouse-sink-dlq"]
    assert sink.severity == "warning"  # recovered: no longer an open problem
    assert sink.evidence["origin_topics"] == ["shop.payments"]


def test_the_processing_that_dead_lettered_a_record_is_not_its_recovery(data, store, window):
    """A consumer that fails at once sends the dead letter within the millisecond its process span
    started: the dead letter's CreateTime (whole milliseconds) is then before the span's start."""
    t = data.trace_id()
    data.record("shop.orders", 2, 40, at=0, value=POISON)
    _spring_dlt(data, 0, at=2.0004, origin_offset=40)  # stamped 2.000 s
    data.process(t, "email-service", "email", "shop.orders", 2, 40, at=2.0003)  # no error: it dead-lettered
    data.write()
    df = dl.dead_letters(store.cursor(), window)
    assert df["recovered"].tolist() == [False]
    data.process(t, "email-service", "email", "shop.orders", 2, 40, at=2.0012)  # a redrive a moment later
    data.write()
    assert dl.dead_letters(store.cursor(), window)["recovered_by"].tolist() == ["reprocessed"]


def test_failed_reprocessing_is_not_a_recovery_and_other_groups_do_not_count(data, store, window):
    t = data.trace_id()
    _spring_dlt(data, 0, at=2, origin_offset=40)
    data.process(t, "email-service", "email", "shop.orders", 2, 40, at=60, error=True)
    data.process(t, "analytics-service", "analytics", "shop.orders", 2, 40, at=61)
    data.write()
    df = dl.dead_letters(store.cursor(), window)
    assert df["recovered"].tolist() == [False]
