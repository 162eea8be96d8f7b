"""The lag poller's Kafka clients run in a child process: a librdkafka crash there costs one poll.

librdkafka 2.16 can abort when a broker's connection drops with coordinator requests in flight
(confluentinc/librdkafka#5397); in the collector's own process that ended the tap too. The crash
is made here as librdkafka makes it, with SIGABRT to the process the client runs in.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.kafka.tap import KafkaTap
from tests.collectors.kafka.conftest import commit_groups, wait_for

pytestmark = pytest.mark.kafka


def _rows(store, topic: str) -> int:
    return store.cursor().execute("SELECT count(*) FROM records WHERE topic = ?", [topic]).fetchone()[0]


def _lag_rows(store, group: str) -> int:
    return store.cursor().execute("SELECT count(DISTINCT polled_at) FROM group_offsets WHERE group_id = ?",
                                  [group]).fetchone()[0]


@contextlib.contextmanager
def _collecting(store, settings: KafkaSettings, topic: str, records: int) -> Iterator[tuple[KafkaTap, LagPoller]]:
    """The tap and the lag poller running, once the topic's first records are stored and a poll is taken."""
    tap, poller = KafkaTap(store, settings, from_beginning=True), LagPoller(store, settings)
    tap.start()
    poller.start()
    try:
        wait_for(lambda: _rows(store, topic) == records and poller.status().polls >= 1, timeout=60,
                 what="the first records and a first poll")
        yield tap, poller
    finally:
        tap.stop()
        poller.stop()


def test_a_crash_of_the_pollers_kafka_client_fails_one_poll_and_the_tap_goes_on(
        store, bootstrap, topic_factory, produce, consumer_factory, caplog) -> None:
    caplog.set_level(logging.INFO, logger="collectors")
    run = uuid.uuid4().hex[:6]
    topic = topic_factory(f"crash-{run}")
    group = f"billing-{run}"
    produce(topic, [(b"k", b"{}", None)] * 10)
    consumer_factory(group).commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(topic,), groups=(group,),
                             batch_seconds=0.3, poll_interval=0.5, group_id=f"tap-{run}")
    with _collecting(store, settings, topic, 10) as (_, poller):
        crashed = poller.snapshots.pid
        assert crashed is not None and crashed != os.getpid()
        # a light process: the snapshot's modules only, not the collector's DuckDB and Arrow (nor the CLI's)
        libraries = Path(f"/proc/{crashed}/maps").read_text()
        assert "librdkafka" in libraries and "duckdb" not in libraries and "libarrow" not in libraries
        os.kill(crashed, signal.SIGABRT)
        wait_for(lambda: poller.status().failures >= 1, timeout=30, what="the poll the crash failed")
        polls = poller.status().polls
        produce(topic, [(b"k", b"{}", None)] * 10)
        wait_for(lambda: _rows(store, topic) == 20 and poller.status().polls >= polls + 2, timeout=60,
                 what="records tapped and polls taken after the crash")
        assert poller.snapshots.pid not in (None, crashed) and poller.snapshots.children == 2
        assert poller.status().state == "running"
    assert _lag_rows(store, group) >= 3  # the group's lag kept being recorded
    said = [r.getMessage() for r in caplog.records if r.name == "collectors.kafka.lag" and r.levelno >= logging.WARNING]
    failed = [m for m in said if "poll failed" in m]
    assert len(failed) == 1 and "Kafka client process died of SIGABRT" in failed[0], said
    assert said[-1] == "kafka-lag[test]: polling works again", said
    assert poller.snapshots.pid is None  # stopped with the poller


def test_the_childs_log_lines_reach_the_collectors_log(store, caplog) -> None:
    """A broker that is not there: the child's librdkafka lines and the failed poll are logged here."""
    caplog.set_level(logging.INFO, logger="collectors")
    settings = KafkaSettings(bootstrap=["127.0.0.1:1"], cluster="nowhere", poll_interval=0.5,
                             extra={"socket.connection.setup.timeout.ms": "1000"})
    poller = LagPoller(store, settings)
    poller.start()
    try:
        wait_for(lambda: poller.status().failures >= 1, timeout=60, what="a failed poll")
    finally:
        poller.stop()
    assert "transport failure" in poller.status().last_error.lower(), poller.status()  # librdkafka's reason
    child = [r for r in caplog.records if r.name == "collectors.kafka.librdkafka"]
    assert child, [(r.name, r.getMessage()) for r in caplog.records]
    # where the child logged them, not where the collector logged them again
    assert not any(r.pathname.endswith("lag_process.py") for r in child), {r.pathname for r in child}


def test_a_broker_restart_while_hundreds_of_groups_are_polled_leaves_the_collector_running(
        store, kafka_broker, admin, topic_factory, produce, caplog) -> None:
    """The case librdkafka#5397 is about: the connection drops with coordinator requests in flight.
    Here it crashed the child in most restarts (SIGSEGV or SIGABRT); the tap and the poller go on."""
    if not kafka_broker.restartable:
        pytest.skip("SEAMWATCH_TEST_BOOTSTRAP points at a broker this suite cannot restart")
    caplog.set_level(logging.INFO, logger="collectors")
    run = uuid.uuid4().hex[:6]
    topic = topic_factory(f"fleet-{run}", partitions=4)
    produce(topic, [(b"k", b"{}", None, i % 4) for i in range(400)])
    groups = [f"dispatch-{run}-{g:03d}" for g in range(240)]
    commit_groups(admin, topic, {g: {p: 10 + i % 90 for p in range(4)} for i, g in enumerate(groups)})
    settings = KafkaSettings(bootstrap=[kafka_broker.bootstrap], cluster="test", include=(topic,),
                             groups=(f"dispatch-{run}-*",), batch_seconds=0.3, topic_refresh=0.5, poll_interval=0.5,
                             group_id=f"tap-{run}")
    with _collecting(store, settings, topic, 400) as (_, poller):
        with kafka_broker.down():
            wait_for(lambda: poller.status().state == "retrying", timeout=60, what="poller notices")
        produce(topic, [(b"k", b"{}", None, i % 4) for i in range(400)])
        wait_for(lambda: _rows(store, topic) == 800, timeout=90, what="records after the restart")
        polls = poller.status().polls
        wait_for(lambda: poller.status().polls >= polls + 3, timeout=90, what="polls after the restart")
    assert _lag_rows(store, groups[-1]) >= 4
    said = [r.getMessage() for r in caplog.records if r.name == "collectors.kafka.lag" and r.levelno >= logging.WARNING]
    assert said[-1] == "kafka-lag[test]: polling works again", said
