"""The lag poller on a real broker: groups in any state, never-committed groups, deleted topics."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import TopicPartition

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from tests.collectors.kafka.conftest import commit_groups, wait_for

pytestmark = pytest.mark.kafka


def _consume(consumer, n: int) -> list:
    got: list = []
    wait_for(lambda: got.extend(consumer.consume(n - len(got), 0.5)) or len(got) >= n, what=f"{n} messages")
    return got


def test_snapshot_of_groups_and_watermarks(store, bootstrap, admin, topic_factory, produce, consumer_factory) -> None:
    run = uuid.uuid4().hex[:6]
    topic = topic_factory(name=f"lag-{run}.orders", partitions=2)
    doomed = topic_factory(name=f"lag-{run}.doomed")
    produce(topic, [(b"k", b"{}", None, i % 2) for i in range(30)])
    produce(doomed, [(b"k", b"{}", None)] * 5)

    slow_machine = {"session.timeout.ms": 30000}  # heartbeats may lag on a busy machine
    working = consumer_factory(f"working-{run}", [topic], **{"client.id": "fulfillment-1"}, **slow_machine)
    _consume(working, 14)
    working.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10)], asynchronous=False)
    idle = consumer_factory(f"idle-{run}", [topic], **{"client.id": "never-commits"}, **slow_machine)
    _consume(idle, 1)  # holds both partitions, commits nothing
    gone = consumer_factory(f"gone-{run}")
    gone.commit(offsets=[TopicPartition(doomed, 0, 3)], asynchronous=False)
    gone.close()
    tap = consumer_factory(f"tap-{run}")  # Seamwatch's own tap group: never part of what it watches
    tap.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    tap.close()
    admin.delete_topics([doomed])[doomed].result(15)
    wait_for(lambda: doomed not in admin.list_topics(timeout=5).topics, what="topic deletion")

    poller = LagPoller(store, KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(f"lag-{run}.*",),
                                            group_id=f"tap-{run}"))

    def settled() -> bool:  # a loaded machine can leave a group mid-rebalance for a moment
        for c in (working, idle):
            c.consume(1, 0.05)  # nothing left to read; keeps the members polling
        rows, *_ = poller.snapshot()
        return {(r["group_id"], r["state"]) for r in rows if r["group_id"].endswith(run)} == {
            (f"working-{run}", "stable"), (f"idle-{run}", "stable")}

    try:
        wait_for(settled, timeout=60, what="both groups stable")
        poller.poll_once()
        poller.poll_once()
    finally:
        poller.stop()

    rows = store.cursor().execute(
        'SELECT group_id, topic, "partition", committed_offset, high_watermark, state, members, client_id '
        "FROM group_offsets WHERE group_id LIKE ? AND polled_at = (SELECT max(polled_at) FROM group_offsets) "
        'ORDER BY 1, 2, 3', [f"%-{run}"]).fetchall()
    # the broker drops a deleted topic's committed offsets: the group has nothing left to report;
    # the tap's own group is left out
    assert rows == [
        (f"idle-{run}", topic, 0, None, 15, "stable", 1, "never-commits"),
        (f"idle-{run}", topic, 1, None, 15, "stable", 1, "never-commits"),
        (f"working-{run}", topic, 0, 4, 15, "stable", 1, "fulfillment-1"),
        (f"working-{run}", topic, 1, 10, 15, "stable", 1, "fulfillment-1"),
    ]
    points = store.cursor().execute(
        'SELECT "partition", low_watermark, high_watermark, count(*) FROM topic_offsets WHERE topic = ? '
        'GROUP BY ALL ORDER BY 1', [topic]).fetchall()
    assert points == [(0, 0, 15, 2), (1, 0, 15, 2)]  # one (end offset, time) point per poll
    assert store.cursor().execute("SELECT count(*) FROM topic_offsets WHERE topic = ?", [doomed]).fetchone() == (0,)
    status = poller.status()
    assert status.polls == 2 and status.groups >= 2 and status.last_error is None
    assert abs(time.time() - status.last_poll_at) < 300  # epoch seconds, like every status time


def test_a_cluster_of_many_groups_is_read_whole_each_with_its_own_offsets(store, bootstrap, admin, topic_factory,
                                                                          produce) -> None:
    """More groups than the poller keeps requests in flight (OFFSETS_IN_FLIGHT): every group's
    committed offsets are read, each group's its own (none answered for another)."""
    from collectors.kafka.lag import OFFSETS_IN_FLIGHT

    run = uuid.uuid4().hex[:6]
    topic = topic_factory(name=f"lag-{run}.many", partitions=2)
    produce(topic, [(b"k", b"{}", None, i % 2) for i in range(400)])
    n = 3 * OFFSETS_IN_FLIGHT + 5
    want = {f"many-{run}-{i:03d}": (i, 2 * i) for i in range(n)}  # partition 0 at i, partition 1 at 2i
    commit_groups(admin, topic, {g: {0: a, 1: b} for g, (a, b) in want.items()})
    poller = LagPoller(store, KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(f"lag-{run}.*",),
                                            groups=(f"many-{run}-*",)))
    try:
        rows, *_ = poller.snapshot()
    finally:
        poller.stop()
    got: dict[str, dict[int, int]] = {}
    for r in rows:
        got.setdefault(r["group_id"], {})[r["partition"]] = r["committed_offset"]
    assert got == {g: {0: a, 1: b} for g, (a, b) in want.items()}


def test_bench_lag_times_both_ways_and_leaves_no_group_behind(bootstrap, admin) -> None:
    """`seamwatch bench lag`: one snapshot time a way, their ratio, the load average; the groups
    and the topic it made are deleted at the end (a shared cluster keeps nothing of it)."""
    from collectors.bench.lag import run

    made: list[int] = []
    lines = list(run(bootstrap=bootstrap, groups=40, progress=made.append))
    assert made[-1] == 40
    text = "\n".join(lines)
    assert "40  (3 partitions each: 120 rows a snapshot)" in lines[0], text
    assert [line.split()[0] for line in lines[1:]] == ["snapshot,", "snapshot,", "one", "load"], text
    assert lines[3].rstrip().endswith("×") and float(lines[3].split()[-1].rstrip("×")) > 0, text
    left = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result(15).valid
            if g.group_id.startswith("seamwatch-bench-lag-")]
    assert left == []
    wait_for(lambda: not [t for t in admin.list_topics(timeout=10).topics if t.startswith("seamwatch-bench-lag-")],
             what="the bench topic deleted")
