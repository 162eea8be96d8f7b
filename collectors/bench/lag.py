"""The lag poller's snapshot time on a cluster of many consumer groups (`seamwatch bench lag`).

The Admin API reads one group's committed offsets per request. Asked one after the other, a
snapshot costs a round trip per group; the poller keeps OFFSETS_IN_FLIGHT requests in flight.
Both ways are timed in one run, alternately, on groups made for the run (deleted at the end),
each group with committed offsets on every partition of a bench topic.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROUNDS = 3
PARTITIONS = 3


def _make_groups(admin, topic: str, names: list[str], progress: Callable[[int], None] | None) -> None:
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    done = 0
    for start in range(0, len(names), 100):  # a hundred at a time: a coordinator's queue stays short
        futures = [admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
            g, [TopicPartition(topic, p, 1 + (i + start) % 50) for p in range(PARTITIONS)])])
            for i, g in enumerate(names[start:start + 100])]
        for f in futures:
            for result in f.values():
                result.result(60)
        done += len(futures)
        if progress:
            progress(done)


def run(*, bootstrap: str, groups: int = 1000, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """Yield the lines to print; ``progress`` gets the number of groups made so far."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from collectors.kafka.config import KafkaSettings
    from collectors.kafka.lag import OFFSETS_IN_FLIGHT, LagPoller
    from collectors.store import Store

    run_id = uuid.uuid4().hex[:6]
    topic = f"seamwatch-bench-lag-{run_id}"
    names = [f"seamwatch-bench-lag-{run_id}-{i:05d}" for i in range(groups)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    try:
        producer = Producer({"bootstrap.servers": bootstrap})
        for i in range(PARTITIONS * 60):
            producer.produce(topic, value=b"{}", partition=i % PARTITIONS)
        producer.flush(30)
        _make_groups(admin, topic, names, progress)
        with tempfile.TemporaryDirectory(prefix="seamwatch-bench-") as tmp, Store(Path(tmp) / "lag.duckdb") as store:
            poller = LagPoller(store, KafkaSettings(bootstrap=[bootstrap], cluster="bench", include=(topic,),
                                                    groups=(f"seamwatch-bench-lag-{run_id}-*",)))
            times: dict[int, list[float]] = {1: [], OFFSETS_IN_FLIGHT: []}
            rows = 0
            try:
                poller.snapshot()  # the client process, connections and metadata, paid once
                for _ in range(ROUNDS):
                    for window in times:
                        poller.offsets_in_flight = window
                        t0 = time.perf_counter()
                        got, *_ = poller.snapshot()
                        times[window].append(time.perf_counter() - t0)
                        rows = len(got)
            finally:
                poller.stop()
        serial, pipelined = min(times[1]), min(times[OFFSETS_IN_FLIGHT])
        yield f"groups                          {groups:>10,}  ({PARTITIONS} partitions each: {rows:,} rows a snapshot)"
        yield (f"snapshot, one group at a time   {serial:>10.3f} s  (best of {ROUNDS}; "
               f"{serial / groups * 1e3:.2f} ms a group)")
        yield (f"snapshot, {OFFSETS_IN_FLIGHT} in flight          {pipelined:>10.3f} s  (best of {ROUNDS}; "
               f"{pipelined / groups * 1e3:.2f} ms a group)")
        yield f"one at a time / in flight       {serial / pipelined:>10.2f}×"
        yield f"load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"
    finally:
        for f in admin.delete_consumer_groups(names, request_timeout=30).values():
            try:
                f.result(60)
            except Exception:  # noqa: BLE001 (a group left behind is named by its prefix)
                pass
        admin.delete_topics([topic])[topic].result(30)
