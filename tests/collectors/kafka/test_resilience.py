"""Kill -9 of the collector and a broker restart lose nothing and repeat nothing."""

from __future__ import annotations

import logging
import signal
import time
import uuid

import pytest

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.kafka.tap import KafkaTap
from collectors.store import Store
from tests.collectors.kafka.conftest import wait_for
from tests.support.kafka_stream import Feeder, collect_process

pytestmark = pytest.mark.kafka


def _committed(admin, group: str, topic: str) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions

    try:
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(5)
    except Exception:  # noqa: BLE001 (group not there yet)
        return 0
    return sum(tp.offset for tp in res.topic_partitions if tp.topic == topic and tp.offset > 0)


def test_kill_9_mid_stream_then_restart(tmp_path, bootstrap, admin, topic_factory, produce) -> None:
    topic = topic_factory("kill", partitions=3)
    group = f"tap-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "kill.duckdb"
    feeder = Feeder(produce, topic, partitions=3, batch=500, limit=200_000)  # the kill lands mid-stream
    proc = collect_process(str(db), bootstrap, topic, group, "--poll-interval", "1")
    try:
        wait_for(lambda: _committed(admin, group, topic) > 0, timeout=60, what="a first committed batch")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert feeder.alive(), "the kill should land while records still arrive"
        time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        total = feeder.stop()
    proc = collect_process(str(db), bootstrap, topic, group, "--poll-interval", "1")
    try:
        wait_for(lambda: _committed(admin, group, topic) == total, timeout=60, what="all records tapped")
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert proc.returncode == 0, out
    with Store(db, read_only=True) as store:
        rows, distinct = store.cursor().execute(
            'SELECT count(*), count(DISTINCT ("partition", "offset")) FROM records WHERE topic = ?', [topic]
        ).fetchone()
        ids = store.cursor().execute("SELECT count(DISTINCT event_id) FROM records WHERE topic = ?",
                                     [topic]).fetchone()[0]
        polls = store.cursor().execute("SELECT count(DISTINCT polled_at) FROM group_offsets WHERE group_id = ?",
                                       [group]).fetchone()[0]
        points = store.cursor().execute("SELECT count(*) FROM topic_offsets WHERE topic = ?", [topic]).fetchone()[0]
    assert (rows, distinct, ids) == (total, total, total)
    assert points >= 1 and polls == 0  # the poller ran, and left the tap's own group out of the store


def test_broker_restart(store, kafka_broker, topic_factory, produce, caplog) -> None:
    if not kafka_broker.restartable:
        pytest.skip("SEAMWATCH_TEST_BOOTSTRAP points at a broker this suite cannot restart")
    caplog.set_level(logging.DEBUG, logger="collectors.kafka.lag")
    topic = topic_factory("restart", partitions=2)
    settings = KafkaSettings(bootstrap=[kafka_broker.bootstrap], cluster="test", include=(topic,),
                             batch_seconds=0.3, topic_refresh=0.5, poll_interval=0.5,
                             group_id=f"tap-{uuid.uuid4().hex[:6]}")
    tap, poller = KafkaTap(store, settings, from_beginning=True), LagPoller(store, settings)
    tap.start()
    poller.start()
    try:
        produce(topic, [(b"k", b"{}", None, i % 2) for i in range(1000)])
        wait_for(lambda: _rows(store, topic) == 1000, what="first records")
        with kafka_broker.down():
            # a request times out after REQUEST_TIMEOUT (10 s), and the poller waits out its backoff
            wait_for(lambda: poller.status().state == "retrying", timeout=45, what="poller notices")
            wait_for(lambda: tap.status().state == "retrying", timeout=45, what="tap notices")
        produce(topic, [(b"k", b"{}", None, i % 2) for i in range(1000)])
        wait_for(lambda: _rows(store, topic) == 2000, timeout=60, what="records after the restart")
        wait_for(lambda: poller.status().state == "running", timeout=60, what="poller recovers")
    finally:
        tap.stop()
        poller.stop()
    rows, distinct = store.cursor().execute(
        'SELECT count(*), count(DISTINCT ("partition", "offset")) FROM records WHERE topic = ?', [topic]).fetchone()
    assert (rows, distinct) == (2000, 2000)
    assert tap.status().last_error  # what happened is reported, not hidden
    assert poller.status().failures >= 1
    # the poller says the outage once, however many polls failed, and says when polling works again
    said = [r.getMessage() for r in caplog.records if r.name == "collectors.kafka.lag" and r.levelno >= logging.WARNING]
    assert len([m for m in said if "poll failed" in m]) == 1, said
    assert said[-1] == "kafka-lag[test]: polling works again", said


def test_a_request_the_cluster_did_not_answer_fails_the_poll_and_a_groups_own_error_skips_it() -> None:
    from confluent_kafka import KafkaError, KafkaException

    from collectors.kafka.lag_snapshot import _of_the_group

    for local in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
        assert not _of_the_group(KafkaException(KafkaError(local)))
    assert not _of_the_group(TimeoutError())  # no answer within the wait
    for answered in (KafkaError.GROUP_ID_NOT_FOUND, KafkaError.GROUP_AUTHORIZATION_FAILED):
        assert _of_the_group(KafkaException(KafkaError(answered)))


def _rows(store, topic: str) -> int:
    return store.cursor().execute("SELECT count(*) FROM records WHERE topic = ?", [topic]).fetchone()[0]


