"""Two `seamwatch collect` processes on one lake split a topic through the tap's group; a kill -9
of one mid-stream loses nothing and repeats nothing (docs/architecture.md#many-collectors)."""

from __future__ import annotations

import json
import signal
import time
import uuid

import pytest

from collectors.store import Store
from tests.collectors.kafka.conftest import wait_for
from tests.support.kafka_stream import Feeder, collect_process

pytestmark = [pytest.mark.kafka, pytest.mark.lake]
# the survivor takes the killed collector's partitions within seconds
_QUICK_REBALANCE = ("-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500")


def _members_with_partitions(admin, group: str) -> int:
    try:
        desc = admin.describe_consumer_groups([group])[group].result(5)
    except Exception:  # noqa: BLE001 (group not there yet)
        return 0
    return sum(1 for m in desc.members if m.assignment and m.assignment.topic_partitions)


def _stored(db: str, topic: str) -> list[tuple[int, int, str]]:
    with Store(db, read_only=True) as store:
        return store.cursor().execute(
            'SELECT "partition", "offset", event_id FROM records WHERE topic = ? ORDER BY 1, 2', [topic]).fetchall()


def _topic_contents(consumer_factory, topic: str, total: int) -> list[tuple[int, int, str]]:
    consumer = consumer_factory(f"check-{uuid.uuid4().hex[:6]}", [topic], **{"auto.offset.reset": "earliest"})
    seen: list[tuple[int, int, str]] = []
    deadline = time.monotonic() + 60
    while len(seen) < total and time.monotonic() < deadline:
        for m in consumer.consume(1000, timeout=1):
            if m.error() is None:
                seen.append((m.partition(), m.offset(), json.loads(m.value())["eventId"]))
    return sorted(seen)


def test_two_collectors_split_partitions_and_a_kill_9_loses_and_repeats_nothing(
        new_lake, bootstrap, admin, topic_factory, produce, consumer_factory) -> None:
    topic = topic_factory("many", partitions=4)
    group = f"tap-{uuid.uuid4().hex[:6]}"
    lake = new_lake()
    feeder = Feeder(produce, topic, partitions=4, batch=200, limit=100_000)  # the kill lands mid-stream
    first, second = (collect_process(lake, bootstrap, topic, group, *_QUICK_REBALANCE),
                     collect_process(lake, bootstrap, topic, group, *_QUICK_REBALANCE))
    try:
        wait_for(lambda: _members_with_partitions(admin, group) == 2, timeout=90, what="both collectors in the group")
        wait_for(lambda: len({p for p, _, _ in _stored(lake, topic)}) == 4, timeout=60,
                 what="batches of every partition in the lake")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert feeder.alive(), "the kill should land while records still arrive"
        time.sleep(2)
    finally:
        total = feeder.stop()
        if first.poll() is None:
            first.kill()
    try:
        wait_for(lambda: len(_stored(lake, topic)) >= total, timeout=120, what="the survivor to take every record")
        time.sleep(2)  # anything repeated would arrive now
    finally:
        second.send_signal(signal.SIGTERM)
        out = second.communicate(timeout=60)[0].decode()
    assert second.returncode == 0, out[-3000:]
    assert _stored(lake, topic) == _topic_contents(consumer_factory, topic, total)
