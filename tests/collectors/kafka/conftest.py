"""A real Kafka broker for the Kafka tests, and factories for topics, producers and consumers.

One broker per session (scripts/kafka_broker.py), or the broker SEAMWATCH_TEST_BOOTSTRAP
names. Without Java (or Maven to fetch the jars) and without that variable, the tests that
need it skip with the reason; under CI (CI=true) they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import service_script

ROOT = Path(__file__).resolve().parents[3]
# low timeouts: first group assignment on a fresh broker is otherwise slow (docs/architecture.md#testing-notes)
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000}


def _harness() -> Any:
    return service_script("kafka_broker")


class BrokerHandle:
    """What tests see of the broker: its address, and restart() when the harness owns it."""

    def __init__(self, bootstrap: str, owned: Any = None) -> None:
        self.bootstrap = bootstrap
        self._owned = owned
        # the harness's SASL/PLAIN listener and its account (None: a broker the harness does not own)
        self.sasl = (owned.sasl_bootstrap, owned.SASL_USER, owned.SASL_PASSWORD) if owned is not None else None
        # its TLS listeners (SSL, SASL_SSL) and the CA certificate that signed theirs (None: not owned)
        self.tls = (owned.ssl_bootstrap, owned.sasl_ssl_bootstrap, owned.ca_path) if owned is not None else None

    @property
    def restartable(self) -> bool:
        return self._owned is not None

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The broker stopped for the block, and started again however the block ends: a test
        failing while it is away must not leave every later test without a broker."""
        self._owned.stop()
        try:
            yield
        finally:
            self._owned.start()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Kafka tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason} (or set SEAMWATCH_TEST_BOOTSTRAP=host:port)")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerHandle]:
    existing = os.environ.get("SEAMWATCH_TEST_BOOTSTRAP")
    if existing:
        yield BrokerHandle(existing)
        return
    harness = _harness()
    why = harness.missing_requirement()
    if why:
        _unavailable(why)
    broker = harness.Broker(tmp_path_factory.mktemp("kafka"), die_with_parent=True)
    try:
        broker.start()
    except harness.BrokerError as exc:
        _unavailable(str(exc).splitlines()[0])
    try:
        yield BrokerHandle(broker.bootstrap, broker)
    finally:
        broker.stop()


@pytest.fixture
def bootstrap(kafka_broker: BrokerHandle) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def sasl(kafka_broker: BrokerHandle) -> tuple[str, str, str]:
    """(bootstrap, user, password) of the broker's SASL/PLAIN listener."""
    if kafka_broker.sasl is None:
        _unavailable("the broker SEAMWATCH_TEST_BOOTSTRAP names has no SASL listener the tests know")
    return kafka_broker.sasl


@pytest.fixture
def admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


@contextlib.contextmanager
def topic_maker(bootstrap: str) -> Iterator[Callable[..., str]]:
    """Creates uniquely named topics and waits until they are usable; deletes them after."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    created: list[str] = []

    def make(prefix: str = "t", *, partitions: int = 1, name: str | None = None,
             config: dict[str, str] | None = None) -> str:
        topic = name or f"{prefix}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                      config=config or {})])[topic].result(15)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            md = admin.list_topics(topic, timeout=5).topics.get(topic)
            if md is not None and md.error is None and len(md.partitions) == partitions and all(
                    p.leader >= 0 for p in md.partitions.values()):
                break
            time.sleep(0.1)
        created.append(topic)
        return topic

    yield make
    if created:
        for fut in admin.delete_topics(created, operation_timeout=10).values():
            try:
                fut.result(15)
            except Exception:  # noqa: BLE001 (a test may have deleted it already)
                pass


@pytest.fixture
def topic_factory(bootstrap: str) -> Iterator[Callable[..., str]]:
    """Creates uniquely named topics and waits until they are usable; deletes them after."""
    with topic_maker(bootstrap) as make:
        yield make


Record = tuple  # (key, value, headers) or (key, value, headers, partition)


def events(tag: str, n: int) -> list[Record]:
    """``n`` JSON events with ids ``tag-0``…, keyed k0…, for produce()."""
    return [(f"k{i}".encode(), json.dumps({"event_id": f"{tag}-{i}"}).encode(), None) for i in range(n)]


@pytest.fixture
def produce(bootstrap: str) -> Callable[..., int]:
    """produce(topic, records) → count; each record is (key, value, headers[, partition])."""
    from confluent_kafka import Producer

    def send(topic: str, records: Sequence[Record], **conf: Any) -> int:
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
        for r in records:
            kw: dict[str, Any] = {"key": r[0], "value": r[1], "headers": r[2]}
            if len(r) > 3:
                kw["partition"] = r[3]
            while True:
                try:
                    p.produce(topic, **kw)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        left = p.flush(30)
        assert left == 0, f"{left} messages not delivered"
        return len(records)

    return send


@pytest.fixture
def consumer_factory(bootstrap: str) -> Iterator[Callable[..., Any]]:
    """Consumers in a group with low session timeouts; closed after the test."""
    from confluent_kafka import Consumer

    made: list[Any] = []

    def make(group: str, topics: Sequence[str] = (), **conf: Any) -> Any:
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **FAST_GROUP, **conf})
        if topics:
            c.subscribe(list(topics))
        made.append(c)
        return c

    yield make
    for c in made:
        try:
            c.close()
        except RuntimeError:  # already closed by the test
            pass


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll until predicate() is truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def client_args(given: str, settings: dict[str, str], folder: Path) -> list[str]:
    """librdkafka settings as a user gives them to `seamwatch collect`: ``-X k=v`` each, or a
    ``--kafka-config`` properties file (``given``)."""
    if given == "-X":
        return [a for k, v in settings.items() for a in ("-X", f"{k}={v}")]
    props = folder / "client.properties"
    props.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return ["--kafka-config", str(props)]


def _coordinator_moving() -> set[int]:
    from confluent_kafka import KafkaError

    return {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The offset ``group`` has committed on ``topic``'s partition 0 (0 for none). Asked again while
    the broker answers with a retriable error (NOT_COORDINATOR while a fresh broker loads its
    offsets topic), for up to 10 s."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                return sum(max(tp.offset, 0) for tp in c.committed([TopicPartition(topic, 0)], timeout=10))
            except KafkaException as exc:
                err = exc.args[0]
                if not (err.retriable() or err.code() in _coordinator_moving()) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        c.close()


def commit_groups(admin: Any, topic: str, offsets: dict[str, dict[int, int]]) -> None:
    """Commit each group's offsets on ``topic`` ({group: {partition: offset}}) through the Admin API,
    without a consumer: the groups of a cluster with many of them."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    futures = [admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        g, [TopicPartition(topic, p, o) for p, o in by_partition.items()])]) for g, by_partition in offsets.items()]
    for f in futures:
        for done in f.values():
            done.result(30)


def poll_lag(bootstrap: str, db: Path, *args: str, seconds: float = 5.0) -> str:
    """Run ``seamwatch collect --no-tap`` polling lag every 0.5 s for ``seconds``, stop it as Ctrl+C
    does, and return its output (the store is the collector's alone while it runs: read it after)."""
    from tests.support.processes import interrupt, seamwatch

    proc = subprocess.Popen(seamwatch("collect", "--db", str(db), "--bootstrap", bootstrap, "--no-tap",
                                      "--poll-interval", "0.5", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        started = proc.stdout.readline()
        assert started.startswith("collecting into"), started
        time.sleep(seconds)
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    return out
