"""On a real broker: `seamwatch collect --memory 400MB` taps a topic at full speed and its peak
RSS stays under the budget, with every record stored (collectors/memory_budget.py)."""

from __future__ import annotations

import subprocess
import uuid

import duckdb
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from collectors.bench.kafka import TRACEPARENT, _event, _tree_peak_mb
from tests.collectors.kafka.conftest import wait_for
from tests.support.processes import interrupt, seamwatch

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RECORDS = 200_000
PARTITIONS = 4


def _fill(bootstrap: str, topic: str) -> None:
    """The bench's ~300 B JSON events with three headers, lz4-compressed like a busy producer's."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                  "compression.type": "lz4", "queue.buffering.max.messages": 500_000})
    headers = [("traceparent", TRACEPARENT.encode()), ("content-type", b"application/json")]
    for i in range(RECORDS):
        p.produce(topic, key=f"order-{i}".encode(), value=_event(i), headers=headers, partition=i % PARTITIONS)
        if i % 50_000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Records the tap has stored: it commits to its group only after the store's commit."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return sum(max(tp.offset, 0) for tp in c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                                            timeout=10))
    except KafkaException as exc:  # a fresh broker's group coordinator may not be ready yet: asked again
        if exc.args[0].code() != KafkaError.NOT_COORDINATOR:
            raise
        return 0
    finally:
        c.close()


def test_collect_under_a_memory_budget_stores_everything_below_it(bootstrap, topic_factory, tmp_path) -> None:
    topic = topic_factory("budget", partitions=PARTITIONS)
    _fill(bootstrap, topic)
    group = f"budget-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "budget.duckdb"
    proc = subprocess.Popen(seamwatch("collect", "--db", str(db), "--bootstrap", bootstrap, "--cluster", "budget",
                                      "--topic", topic, "--from-beginning", "--tap-group", group,
                                      "--memory", "400MB"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: proc.poll() is not None or _committed(bootstrap, group, topic) >= RECORDS, timeout=120,
                 interval=0.5, what=f"{RECORDS:,} records stored")
        assert proc.poll() is None, proc.communicate()[0]
        own, children = _tree_peak_mb(proc.pid)  # the lag poller's Kafka clients run in a child process
        peak = own + children
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    assert children > 0, "the lag poller's child process was not running"
    assert peak * 2**20 < 400e6, (f"peak RSS {peak * 2**20 / 1e6:.0f} MB over the 400MB budget "
                                  f"(collect {own:.0f} MiB, its child processes {children:.0f} MiB)")
    with duckdb.connect(str(db), read_only=True) as con:
        stored, distinct = con.execute("SELECT count(*), count(DISTINCT (partition, \"offset\")) FROM records "
                                       "WHERE topic = ?", [topic]).fetchone()
    assert (stored, distinct) == (RECORDS, RECORDS)


def test_a_budget_too_small_is_one_sentence(tmp_path) -> None:
    out = subprocess.run(seamwatch("collect", "--db", str(tmp_path / "x.duckdb"), "--bootstrap", "127.0.0.1:9",
                                   "--memory", "100MB"), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "--memory must be at least 320MB" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_budgets_store_runs_duckdb_on_one_thread_under_its_limit(tmp_path) -> None:
    """Two DuckDB threads raced the tap's stages on two cores while it wrote a batch under its limit
    (collectors/memory_budget.py: 264k–269k records/s with one against 193k–262k with two)."""
    from collectors.memory_budget import MemoryBudget
    from collectors.store import Store

    budget = MemoryBudget.parse("400MB")
    with Store(tmp_path / "lean.duckdb", **budget.store_settings()) as store:
        threads, limit = store.cursor().execute(
            "SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert (threads, limit) == (1, "78.0 MiB"), (threads, limit)  # half of what 400MB leaves past the fixed part
    assert budget.describe()["duckdb_threads"] == 1
