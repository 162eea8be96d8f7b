"""The native consumer (collectors/kafka/native_consumer.py) against confluent-kafka's, on a real
broker: the same records give the same chunks, field for field; errors, log lines and refused
settings reach the tap as confluent-kafka delivers them."""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from collectors.kafka import _native, native_consumer
from collectors.kafka.native_consumer import NativeConsumer
from tests.collectors.kafka.conftest import wait_for

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def _native_consumer() -> None:
    if native_consumer.chosen() != "native":
        if os.environ.get("CI") == "true":
            pytest.fail("the native consumer is not available (needs the native module and librdkafka)")
        pytest.skip("the native consumer is not available")


# Records a production cluster holds that a tidy test would not send.
ODD: list[dict[str, Any]] = [
    {"key": None, "value": b'{"eventId": "a"}'},
    {"key": b"", "value": b""},  # empty, not absent
    {"key": b"k", "value": None},  # a tombstone
    {"key": b"\xff\xfe\x00binary", "value": b"\x80\x81 not UTF-8 \xc3\x28"},
    {"key": b"big", "value": b"x" * 200_000},
    {"key": b"h", "value": b"{}", "headers": []},
    {"key": b"h", "value": b"{}", "headers": [("dup", b"1"), ("dup", b"2"), ("empty", b""), ("none", None)]},
    {"key": b"h", "value": b"{}", "headers": [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                                               ("caf\u00e9 \u2603", b"\x00\xff")]},
    {"key": b"t0", "value": b"{}", "timestamp": 1},  # the epoch's first millisecond
    {"key": b"t1", "value": b"{}", "timestamp": 1_000_000_000_000},  # 2001 (a broker refuses the far future)
]


def _fill(bootstrap: str, topics: list[str]) -> int:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failed: list[Any] = []
    n = 0
    for topic in topics:
        for i in range(60):  # across partitions, several batches each
            rec = ODD[i % len(ODD)]
            p.produce(topic, key=rec["key"], value=rec["value"], headers=rec.get("headers"),
                      timestamp=rec.get("timestamp", 0), partition=i % 3,
                      on_delivery=lambda err, _msg: err is not None and failed.append(err))
            n += 1
    assert p.flush(30) == 0
    assert failed == []
    return n


def _rows(chunks: list[Any]) -> list[dict[str, Any]]:
    rows = [c.fields(i) for c in chunks for i in range(len(c))]
    return sorted(rows, key=lambda r: (r["topic"], r["partition"], r["offset"]))


def _read_all(read: Any, close: Any, n: int) -> list[dict[str, Any]]:
    """Chunks from ``read()`` (a list of chunks each call) until ``n`` records, as sorted fields."""
    chunks: list[Any] = []
    try:
        while sum(map(len, chunks)) < n:
            chunks.extend(read())
    finally:
        close()
    return _rows(chunks)


def _by_confluent(bootstrap: str, topics: list[str], n: int) -> list[dict[str, Any]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"diff-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(3)])

    def read() -> list[Any]:
        msgs = [m for m in c.consume(num_messages=7, timeout=1.0) if m.error() is None]
        return [_native.collect(msgs)] if msgs else []

    return _read_all(read, c.close, n)


def _by_native(bootstrap: str, topics: list[str], n: int) -> list[dict[str, Any]]:
    c = NativeConsumer({"bootstrap.servers": bootstrap, "group.id": f"diff-{uuid.uuid4().hex[:6]}",
                        "enable.auto.commit": False, "enable.partition.eof": False})
    c.incremental_assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(3)])

    def read() -> list[Any]:
        batch, errors = c.consume_chunk(7, 1.0)  # small reads: chunks end mid-partition
        assert errors == []
        return [] if batch is None else batch.chunks

    return _read_all(read, c.close, n)


def test_the_same_records_give_the_same_chunks(bootstrap, topic_factory) -> None:
    created = topic_factory("diff-create", partitions=3)
    appended = topic_factory("diff-append", partitions=3)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, appended, incremental_configs=[ConfigEntry(
        "message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(15)
    n = _fill(bootstrap, [created, appended])

    native, reference = _by_native(bootstrap, [created, appended], n), _by_confluent(bootstrap, [created, appended], n)
    assert len(native) == n
    assert native == reference
    # what the comparison covered: tombstones, absent and empty keys, headers absent (an empty list
    # reads back as none: the record format cannot tell them apart) and repeated, both timestamp types
    assert {r["timestamp_type"] for r in native} == {1, 2}
    assert sum(r["value"] is None for r in native) == sum(r["key"] is None for r in native) == 12
    assert any(r["headers"] is None for r in native)
    assert any([name for name, _ in r["headers"] or ()].count("dup") == 2 for r in native)


def test_settings_librdkafka_refuses_raise_as_confluent_kafka_raises_them() -> None:
    conf = {"bootstrap.servers": "127.0.0.1:9", "group.id": "g", "fetch.queue.backoff.ms": "soon"}
    with pytest.raises(KafkaException) as theirs:
        Consumer(conf)
    with pytest.raises(KafkaException) as ours:
        NativeConsumer(conf)
    assert ours.value.args[0].str() == theirs.value.args[0].str()
    assert "fetch.queue.backoff.ms" in ours.value.args[0].str()


def test_a_broker_away_reaches_error_cb_and_the_logger(caplog) -> None:
    errors: list[Any] = []
    c = NativeConsumer({"bootstrap.servers": "127.0.0.1:9", "group.id": "g", "error_cb": errors.append,
                        "logger": logging.getLogger("test.native.librdkafka"), "reconnect.backoff.ms": 100})
    try:
        with caplog.at_level(logging.DEBUG, logger="test.native.librdkafka"):
            c.incremental_assign([TopicPartition("nowhere", 0, OFFSET_BEGINNING)])
            wait_for(lambda: c.consume_chunk(10, 0.2)[0] is None and errors, timeout=20,
                     what="librdkafka's error for a refused connection")
            with pytest.raises(KafkaException) as exc:
                c.list_topics(timeout=0.5)
    finally:
        c.close()
    assert {e.code() for e in errors} <= {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}  # noqa: SLF001
    assert "127.0.0.1:9" in errors[0].str()
    assert exc.value.args[0].code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT)  # noqa: SLF001
    # librdkafka's lines, in confluent-kafka's format "FACILITY [client name] text"
    assert any("127.0.0.1:9" in r.getMessage() and " [rdkafka#consumer-" in r.getMessage() for r in caplog.records)


# A partition's own error (an ACL denying READ), named with its topic and partition, is asserted
# through the real `collect` in test_acl.py, which reads with the native consumer by default.
