"""The redrive's pure rules: record ids, the headers a replay carries, one run at a time (no broker)."""

from __future__ import annotations

import pytest

from collectors.kafka import redrive
from collectors.kafka.config import KafkaSettings
from collectors.kafka.redrive import PROVENANCE, REPLAY_COUNT, Redrive, RedriveError, Request, replay_headers
from collectors.kafka.redrive_ledger import RecordId


def test_record_ids_as_the_dashboard_names_them() -> None:
    assert RecordId.parse("shop.orders.DLT/2/42") == RecordId("shop.orders.DLT", 2, 42)
    assert str(RecordId("a-dlt", 0, 7)) == "a-dlt/0/7"
    for bad in ("orders.DLT/1", "orders.DLT/x/1", "/0/1", "orders.DLT/0/-1"):
        with pytest.raises(ValueError, match="TOPIC/PARTITION/OFFSET"):
            RecordId.parse(bad)


def test_a_replay_keeps_the_producers_headers_and_drops_every_dead_letter_family() -> None:
    dead = RecordId("orders.DLT", 0, 9)
    headers = [("traceparent", b"00-ab-cd-01"), ("kafka_dlt-original-topic", b"orders"),
               ("kafka_dlt-exception-stacktrace", b"..."), ("kafka_original-offset", b"1"),
               ("kafka_exception-message", b"x"), ("retry_topic-attempts", b"\0\0\0\2"),
               ("x-original-topic", b"orders"), ("x-exception-message", b"boom"),
               ("__connect.errors.topic", b"orders"), ("tenant", b"acme"), ("tenant", None),
               (PROVENANCE, b"orders.DLT/0/3"), (REPLAY_COUNT, b"1")]
    assert replay_headers(headers, dead, 2) == [
        ("traceparent", b"00-ab-cd-01"), ("tenant", b"acme"), ("tenant", None),
        (PROVENANCE, b"orders.DLT/0/9"), (REPLAY_COUNT, b"2")]


def test_origin_from_the_topics_name() -> None:
    assert [redrive._origin_from_name(t) for t in ("orders.DLT", "orders-dlq", "orders", ".DLT")] == [
        "orders", "orders", None, None]


def test_request_needs_records_or_since_on_the_dead_letter_topic() -> None:
    with pytest.raises(Exception, match="give --record"):
        Request(dlt="a.DLT")
    with pytest.raises(Exception, match="is not on the dead-letter topic a.DLT"):
        Request(dlt="a.DLT", records=[RecordId("b.DLT", 0, 1)])


def test_one_run_at_a_time_in_a_process() -> None:
    """Two Redrive buttons at once must not both send what neither has recorded yet."""
    run = Redrive(None, KafkaSettings(bootstrap=["127.0.0.1:9"]), Request(dlt="a.DLT", records=[RecordId("a.DLT", 0, 0)]))
    with redrive._ONE_RUN:
        with pytest.raises(RedriveError, match="another redrive is running"):
            run.run()
