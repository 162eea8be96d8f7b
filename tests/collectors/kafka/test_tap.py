"""The topic tap on a real broker: odd records, new topics, dead letters, exactly-once."""

from __future__ import annotations

import json
import os
import struct
import time
import uuid

import pytest

from collectors.kafka.config import KafkaSettings
from collectors.kafka.tap import KafkaTap
from tests.collectors.kafka.conftest import wait_for

pytestmark = pytest.mark.kafka

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _settings(bootstrap: str, *topics: str, **kw) -> KafkaSettings:
    return KafkaSettings(bootstrap=[bootstrap], cluster="test", include=topics, batch_seconds=0.3,
                         topic_refresh=0.5, group_id=f"tap-{uuid.uuid4().hex[:6]}", **kw)


def _count(store, topic: str) -> tuple[int, int]:
    """(rows, distinct offsets) the store holds for a topic."""
    return store.cursor().execute(
        'SELECT count(*), count(DISTINCT ("partition", "offset")) FROM records WHERE topic = ?', [topic]
    ).fetchone()


def test_odd_records_are_stored_with_what_can_be_known(store, bootstrap, topic_factory, produce) -> None:
    topic = topic_factory("odd")
    big = json.dumps({"eventId": "big-1", "eventType": "BlobStored", "blob": "x" * 900_000}).encode()
    produce(topic, [
        (b"order-1", json.dumps({"eventId": "e1", "eventType": "OrderCreated", "occurredAt":
                                 "2026-03-01T10:00:00Z"}).encode(), [("traceparent", TP.encode())]),
        (b"\x00\xff\xfe", b"not json {", None),  # binary key, text value, no headers
        (b"tomb", None, None),  # tombstone
        (None, b"\x89PNG\r\n\x1a\n\x00\x00", [("h", None), ("bin", b"\xff")]),
        (b"big", big, None),
        (b"far", b'{"id": "f", "time": "9999-12-31T23:59:59-23:59"}', None),  # a time no column can hold
    ])
    tap = KafkaTap(store, _settings(bootstrap, topic), from_beginning=True)
    tap.start()
    try:
        wait_for(lambda: _count(store, topic)[0] == 6, what="6 records")
    finally:
        tap.stop()
    rows = {r[0]: r[1:] for r in store.cursor().execute(
        'SELECT "offset", "key", value_size, event_id, event_type, trace_id, value_excerpt, headers '
        'FROM records WHERE topic = ? ORDER BY "offset"', [topic]).fetchall()}
    assert rows[0][0] == "order-1" and rows[0][2:5] == ("e1", "OrderCreated", TP[3:35])
    assert rows[1][0] == "base64:AP/+" and rows[1][5] == "not json {"
    assert rows[2][1] == -1 and rows[2][5] is None  # tombstone
    assert json.loads(rows[3][6]) == [["h", None], ["bin", "base64:/w=="]]
    assert rows[4][1] == len(big) and rows[4][2] == "big-1" and len(rows[4][5]) == 1024
    assert rows[5][2] is None
    errors = store.cursor().execute("SELECT location FROM ingest_errors").fetchall()
    assert errors == [(f"{topic}/0/5",)]
    status = tap.status()
    assert status.records == 6
    assert abs(time.time() - status.last_flush_at) < 300  # epoch seconds, like every status time


def test_new_topics_are_picked_up_and_patterns_respected(store, bootstrap, topic_factory, produce) -> None:
    run = uuid.uuid4().hex[:6]
    first = topic_factory(name=f"shop-{run}.orders")
    skipped = topic_factory(name=f"shop-{run}.secret")
    tap = KafkaTap(store, _settings(bootstrap, f"shop-{run}.*", exclude=("*.secret",)), from_beginning=True)
    tap.start()
    try:
        produce(first, [(b"k", b"{}", None)] * 3)
        produce(skipped, [(b"k", b"{}", None)] * 2)
        wait_for(lambda: _count(store, first)[0] == 3, what="first topic")
        later = topic_factory(name=f"shop-{run}.payments.DLT", partitions=2)
        produce(later, [(b"k", b"poison", [
            ("kafka_dlt-original-topic", first.encode()), ("kafka_dlt-original-partition", struct.pack(">i", 0)),
            ("kafka_dlt-original-offset", struct.pack(">q", 1)), ("kafka_dlt-original-consumer-group", b"email"),
            ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException")], 1),
            (b"k", b"plain", None, 0)])
        wait_for(lambda: _count(store, later)[0] == 2, what="topic created while running")
    finally:
        tap.stop()
    assert _count(store, skipped)[0] == 0
    dlt = store.cursor().execute(
        'SELECT "partition", dlt_family, dlt_origin_topic, dlt_origin_offset, dlt_origin_group FROM records '
        'WHERE topic = ? AND is_dead_letter ORDER BY "partition"', [later]).fetchall()
    assert dlt == [(0, "topic-pattern", None, None, None), (1, "spring-dlt", first, 1, "email")]


def test_stop_and_restart_store_each_record_once(store, bootstrap, topic_factory, produce) -> None:
    topic = topic_factory("once", partitions=3)
    settings = _settings(bootstrap, topic)
    produce(topic, [(b"k%d" % i, b'{"n": %d}' % i, None, i % 3) for i in range(3000)])
    for round_ in range(3):
        tap = KafkaTap(store, settings, from_beginning=True)
        tap.start()
        wait_for(lambda n=round_: _count(store, topic)[0] >= 3000 * (n + 1), what="records")
        tap.stop()
        assert tap.status().state == "stopped"
        produce(topic, [(b"k", b"{}", None, i % 3) for i in range(3000)])
    tap = KafkaTap(store, settings, from_beginning=True)
    tap.start()
    wait_for(lambda: _count(store, topic)[0] >= 12000, what="all records")
    tap.stop()
    assert _count(store, topic) == (12000, 12000)
    assert store.positions("test") == {(topic, p): 4000 for p in range(3)}


def _tap_2000_once(store, bootstrap: str, topic: str) -> KafkaTap:
    """Tap the topic's 2000 records (ids e0…e1999) and check each is stored exactly once."""
    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(topic,), batch_seconds=2.0,
                             topic_refresh=0.5, group_id=f"tap-{uuid.uuid4().hex[:6]}")
    tap = KafkaTap(store, settings, from_beginning=True)
    tap.start()
    try:
        wait_for(lambda: _count(store, topic)[0] >= 2000, what="2000 records")
    finally:
        tap.stop()
    assert _count(store, topic) == (2000, 2000)
    assert store.cursor().execute("SELECT count(DISTINCT event_id) FROM records WHERE topic = ?",
                                  [topic]).fetchone() == (2000,)
    return tap


def test_a_failing_native_capture_hands_over_without_losing_a_record(store, bootstrap, topic_factory, produce,
                                                                     monkeypatch) -> None:
    """Fault injection: the native capture fails mid-batch; chunks already captured are written
    as they are, the rest goes through the Python capture, and every record is stored once."""
    import os

    from collectors.kafka import fastpath
    from collectors.kafka import tap as tap_module

    if not fastpath.available():
        if os.environ.get("CI") == "true":
            pytest.fail("the native tap path was not built (needs a Rust toolchain at install)")
        pytest.skip("the native tap path was not built (no Rust toolchain at install)")
    topic = topic_factory("fallback", partitions=2)
    produce(topic, [(b"k%d" % i, json.dumps({"eventId": f"e{i}"}).encode(), None, i % 2) for i in range(2000)])
    monkeypatch.setattr(tap_module, "CONSUME_MAX", 100)  # many captures into one batch
    monkeypatch.setenv("SEAMWATCH_KAFKA_CONSUMER", "python")  # the capture of confluent-kafka's Messages
    real, calls = fastpath.NativeBatch.from_messages.__func__, []

    def flaky(cls, msgs):
        calls.append(len(msgs))
        if len(calls) == 5:
            raise TypeError("injected")
        return real(cls, msgs)

    monkeypatch.setattr(fastpath.NativeBatch, "from_messages", classmethod(flaky))
    tap = _tap_2000_once(store, bootstrap, topic)
    assert len(calls) == 5  # native until the failure, Python after it
    assert tap.status().path == "bulk"


@pytest.mark.file_only  # on a lake the tap reads in group mode, always with confluent-kafka's consumer
def test_a_failing_native_consumer_hands_over_to_confluent_kafka_without_losing_a_record(
        store, bootstrap, topic_factory, produce, monkeypatch) -> None:
    """Fault injection: the native consumer panics after four reads. The session ends, the next
    one reads with confluent-kafka's consumer from the store's positions, and every record is
    stored once: what the failed session had read and not written is read again."""
    from collectors.kafka import native_consumer
    from collectors.kafka import tap as tap_module

    if native_consumer.chosen() != "native":
        if os.environ.get("CI") == "true":
            pytest.fail("the native consumer is not available (needs the native module and librdkafka)")
        pytest.skip("the native consumer is not available")
    topic = topic_factory("consumer-fallback", partitions=2)
    produce(topic, [(b"k%d" % i, json.dumps({"eventId": f"e{i}"}).encode(), None, i % 2) for i in range(2000)])
    monkeypatch.setattr(tap_module, "CONSUME_MAX", 100)
    real, calls = native_consumer.NativeConsumer.consume_chunk, []

    def flaky(self, num_messages, timeout):
        batch, errors = real(self, num_messages, timeout)
        if batch is not None:
            calls.append(batch.num_rows)
            if len(calls) == 5:
                raise native_consumer._native.PanicException("injected")
        return batch, errors

    monkeypatch.setattr(native_consumer.NativeConsumer, "consume_chunk", flaky)
    tap = _tap_2000_once(store, bootstrap, topic)
    assert tap.status().consumer == "python"
    assert len(calls) == 5  # native until the failure, confluent-kafka after it
    assert tap.status().path == "native"  # the per-record work stays native


def test_last_write_is_when_the_batch_committed(store, bootstrap, topic_factory, produce, monkeypatch) -> None:
    """A write that takes long (a lake's object store coming back) is as old as its commit, not as
    old as the read of its batch: the status's last write and the commit-age metric read from it."""
    import contextlib

    topic = topic_factory("slow-write")
    produce(topic, [(b"k", b'{"eventId": "e1"}', None)])
    transaction = store.transaction

    @contextlib.contextmanager
    def slow_transaction():
        with transaction() as tx:
            yield tx
            time.sleep(3)  # the commit takes 3 s
    monkeypatch.setattr(store, "transaction", slow_transaction)
    tap = KafkaTap(store, _settings(bootstrap, topic), from_beginning=True)
    tap.start()
    try:
        wait_for(lambda: tap.status().records == 1, what="the slow batch")
        age = time.time() - tap.status().last_flush_at
    finally:
        tap.stop()
    assert 0 <= age < 2, age


@pytest.mark.parametrize(("path", "reader"), [
    # on a lake the tap reads in group mode, always with confluent-kafka's consumer
    pytest.param("native", "native", marks=pytest.mark.file_only), ("native", "python"), ("bulk", "python")],
    ids=["native-consumer", "native-capture", "bulk"])
def test_a_header_name_that_is_not_utf8_costs_that_records_headers_only(
        store, bootstrap, topic_factory, monkeypatch, caplog, reader, path) -> None:
    """A librdkafka producer may name a header with any bytes (Java's cannot); kcat is one. confluent-kafka
    raises for the whole message when asked for its headers: the tap stalled on such a record, re-reading
    it after every failed session. Each reader now stores it, and the records after it, headers and all."""
    import shutil
    import subprocess

    from collectors.kafka import fastpath, native_consumer

    kcat = shutil.which("kcat")
    if kcat is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kcat is not installed (scripts/test.sh installs Debian's kcat when root)")
        pytest.skip("kcat is not installed")
    if path == "native" and not fastpath.available() or reader == "native" and native_consumer.chosen() != "native":
        if os.environ.get("CI") == "true":
            pytest.fail("the native tap path or consumer was not built")
        pytest.skip("the native tap path or consumer was not built")
    topic = topic_factory("hdr")
    for key, header in ((b"bad", b"\xffbad=\xfe"), (b"good", b"traceparent=" + TP.encode())):
        subprocess.run([kcat, "-b", bootstrap, "-P", "-t", topic, "-p", "0", "-k", key.decode(), "-H", header],
                       input=b'{"eventId": "%s"}\n' % key, check=True, timeout=30)
    monkeypatch.setenv("SEAMWATCH_KAFKA_CONSUMER", reader)
    from confluent_kafka import Message

    from collectors.kafka.headers import message_headers
    for _ in range(1000):  # warm: CPython's specialised msg.headers(), once hot, skips the check that raises
        message_headers(Message(topic="warm", headers=[("a", b"1")]))
    tap = KafkaTap(store, _settings(bootstrap, topic), from_beginning=True, path=path)
    tap.start()
    try:
        wait_for(lambda: _count(store, topic)[0] == 2, timeout=20, what="both records")
    finally:
        tap.stop()
    rows = store.cursor().execute('SELECT "key", headers, trace_id, event_id FROM records WHERE topic = ? '
                                  'ORDER BY "offset"', [topic]).fetchall()
    assert [r[3] for r in rows] == ["bad", "good"]
    assert rows[1][2] == TP[3:35], "the record after it keeps its headers"
    assert tap.status().consumer == reader
    if reader == "python":
        assert rows[0][1] is None
        assert f"{topic}/0/0 is stored without its headers: a header name is not UTF-8" in caplog.text
    else:  # librdkafka hands the native consumer the name's bytes
        assert json.loads(rows[0][1]) == [["\ufffdbad", "base64:/g=="]]
    assert tap.status().path == path, "one record's headers do not switch the tap's path"


def test_a_cluster_slow_to_give_topic_ids_does_not_stop_the_reading(store, bootstrap, topic_factory, produce,
                                                                     monkeypatch) -> None:
    """The tap's look for topics created again (DescribeTopics at each topic refresh) ran on the
    consume thread: a cluster slow to answer it (10–15 s before librdkafka gives up) stopped the
    reading that long at every refresh. It runs on a thread of its own now."""
    import threading

    from collectors.kafka import resume_gaps

    topic = topic_factory("slow-ids")
    given = resume_gaps.topic_ids
    answer = threading.Event()
    asked = threading.Event()

    def slow(conf, topics, *, admin=None):  # the periodic look passes the session's admin client
        if admin is not None:
            asked.set()
            answer.wait(120)
        return given(conf, topics, admin=admin)

    monkeypatch.setattr(resume_gaps, "topic_ids", slow)
    tap = KafkaTap(store, _settings(bootstrap, topic), from_beginning=True)
    tap.start()
    try:
        produce(topic, [(b"k", b"{}", None)] * 3)
        wait_for(lambda: _count(store, topic)[0] == 3, what="the first records")
        wait_for(asked.is_set, what="the look for topics created again")
        produce(topic, [(b"k", b"{}", None)] * 5)  # while the cluster has not answered it
        wait_for(lambda: _count(store, topic)[0] == 8, what="records read while the ids are asked")
    finally:
        answer.set()
        tap.stop()
    assert _count(store, topic) == (8, 8)
