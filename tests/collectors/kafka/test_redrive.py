"""Dead-letter redrive on the real broker (docs/architecture.md#dead-letter-redrive).

A consumer in the style of Spring's DeadLetterPublishingRecoverer fails on a poison record
and publishes it to `<topic>.DLT` with the original headers plus Spring's dead-letter
headers. Then the consumer is fixed, `seamwatch redrive` replays the dead letter, and the
consumer processes it; Seamwatch's own tap and lag poller then see the group past it.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from collectors.kafka.redrive import PROVENANCE, REPLAY_COUNT
from collectors.kafka.redrive_ledger import Ledger, RecordId
from collectors.store import Store
from tests.collectors.kafka.conftest import FAST_GROUP, wait_for
from tests.collectors.otlp.test_collect_cli import SEAMWATCH

pytestmark = pytest.mark.kafka


class Billing:
    """A consumer group that dead-letters what it cannot process, as Spring's recoverer does."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self.bootstrap, self.group, self.topic, self.dlt = bootstrap, group, topic, topic + ".DLT"
        self.fixed = False
        self.processed: list[tuple[bytes | None, bytes | None, list]] = []

    def drain(self) -> None:
        """Read everything up to the current end, process or dead-letter each record, commit."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, **FAST_GROUP})
        p = Producer({"bootstrap.servers": self.bootstrap})
        try:
            c.subscribe([self.topic])
            ends = {}
            md = c.list_topics(self.topic, timeout=10).topics[self.topic]
            for part in md.partitions:
                ends[part] = c.get_watermark_offsets(TopicPartition(self.topic, part), timeout=10)[1]
            done: dict[int, int] = {}

            def caught_up() -> bool:
                for m in c.consume(100, 0.5):
                    if m.error():
                        continue
                    self._handle(m, p)
                    c.commit(message=m, asynchronous=False)
                    done[m.partition()] = m.offset() + 1
                committed = {tp.partition: tp.offset for tp in c.committed(
                    [TopicPartition(self.topic, q) for q in ends], timeout=10)}
                return all(max(done.get(q, 0), committed.get(q, 0)) >= end for q, end in ends.items())

            wait_for(caught_up, timeout=60, what=f"{self.group} caught up")
        finally:
            c.close()
            assert p.flush(15) == 0

    def _handle(self, m: Any, p: Producer) -> None:
        body = json.loads(m.value())
        if body.get("poison") and not self.fixed:
            headers = list(m.headers() or []) + [
                ("kafka_dlt-original-topic", m.topic().encode()),
                ("kafka_dlt-original-partition", struct.pack(">i", m.partition())),
                ("kafka_dlt-original-offset", struct.pack(">q", m.offset())),
                ("kafka_dlt-original-consumer-group", self.group.encode()),
                ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
                ("kafka_dlt-exception-message", b"cannot bill an order without currency"),
            ]
            p.produce(self.dlt, key=m.key(), value=m.value(), headers=headers)
            p.flush(15)
            return
        self.processed.append((m.key(), m.value(), list(m.headers() or [])))


def _redrive(db: Path, bootstrap: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*SEAMWATCH, "redrive", "--db", str(db), "--bootstrap", bootstrap, "--cluster", "c1",
                           *args], capture_output=True, text=True, timeout=timeout)


def _messages(bootstrap: str, topic: str) -> list[Any]:
    """Every message of the topic, all partitions, up to their end now."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1] for q in parts}
        c.assign([TopicPartition(topic, q, 0) for q in parts if ends[q] > 0])
        got: list[Any] = []
        left = {q for q, e in ends.items() if e > 0}

        def read() -> bool:
            for m in c.consume(500, 0.5):
                if not m.error():
                    got.append(m)
                    if m.offset() + 1 >= ends[m.partition()]:
                        left.discard(m.partition())
            return not left

        wait_for(read, timeout=60, what=f"all of {topic}")
        return got
    finally:
        c.close()


def _header(m: Any, name: str) -> str | None:
    values = [v for n, v in (m.headers() or []) if n == name]
    return values[-1].decode() if values and values[-1] is not None else None


def _order(i: int, poison: bool = False) -> tuple[bytes, bytes, list]:
    body = {"eventId": f"e-{i}", "eventType": "OrderPlaced", "orderId": i}
    if poison:
        body["poison"] = True
    return (f"order-{i}".encode(), json.dumps(body).encode(), [("tenant", b"acme"), ("traceparent",
            f"00-{i:032x}-{i:016x}-01".encode())])


@pytest.fixture
def shop(bootstrap: str, topic_factory: Callable[..., str], produce: Callable[..., int]) -> Billing:
    run = uuid.uuid4().hex[:6]
    orders = topic_factory(name=f"rd-{run}.orders", partitions=2)
    topic_factory(name=f"rd-{run}.orders.DLT")
    return Billing(bootstrap, f"billing-{run}", orders)


def test_poison_fix_redrive_then_the_group_processes_it(shop: Billing, produce, bootstrap, tmp_path) -> None:
    produce(shop.topic, [(*_order(1), 0), (*_order(2, poison=True), 1), (*_order(3), 0)])
    shop.drain()
    assert [json.loads(v)["orderId"] for _, v, _ in shop.processed] == [1, 3]
    dead = _messages(bootstrap, shop.dlt)
    assert len(dead) == 1
    shop.fixed = True  # the fix is deployed

    db = tmp_path / "s.duckdb"
    dry = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would replay {shop.dlt}/0/0 → {shop.topic} (replay 1)" in dry.stdout
    assert len(_messages(bootstrap, shop.topic)) == 3  # the dry run sent nothing
    assert not db.exists()  # and created no store

    done = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h")
    assert done.returncode == 0, done.stderr
    # back to the origin partition, the next offset there
    assert f"replayed {shop.dlt}/0/0 → {shop.topic}/1/1 (replay 1)" in done.stdout

    shop.drain()
    assert len(shop.processed) == 3
    key, value, headers = shop.processed[-1]
    assert (key, json.loads(value)["orderId"]) == (b"order-2", 2)
    names = [n for n, _ in headers]
    # the producer's headers, in order, then provenance and count; no dead-letter header
    assert names == ["tenant", "traceparent", PROVENANCE, REPLAY_COUNT]
    assert dict(headers)[PROVENANCE] == f"{shop.dlt}/0/0".encode()
    assert dict(headers)[REPLAY_COUNT] == b"1"

    again = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h")
    assert again.returncode == 0, again.stderr
    assert f"already replayed {shop.dlt}/0/0 → {shop.topic}/1/1" in again.stdout
    assert len(_messages(bootstrap, shop.topic)) == 4

    # Seamwatch's tap and lag poller see the group past the replay: findings say it was processed
    _collect(db, bootstrap, shop, lambda cur: cur.execute(
        'SELECT max(committed_offset) FROM group_offsets WHERE group_id = ? AND topic = ? AND "partition" = 1',
        [shop.group, shop.topic]).fetchone()[0] == 2)
    found = subprocess.run([*SEAMWATCH, "findings", "--db", str(db), "--json"], capture_output=True, text=True,
                           timeout=120)
    assert found.returncode == 0, found.stderr
    findings = json.loads(found.stdout)["findings"]
    assert "DUPLICATE_PUBLISH" not in {f["rule"] for f in findings}  # the replay repeats the event on purpose
    outcome = [f for f in findings if f["rule"] == "REDRIVE_OUTCOME"]
    assert [(f["subject"], f["severity"]) for f in outcome] == [(f"{shop.dlt} (processed)", "info")]
    assert outcome[0]["evidence"]["records"][0] == {
        "dead_letter": f"{shop.dlt}/0/0", "replay": f"{shop.topic}/1/1", "group": shop.group, "replay_count": 1,
        "outcome": "processed", "new_dead_letter": None, "reason": None}


def _collect(db: Path, bootstrap: str, shop: Billing, until: Callable[[Any], bool]) -> None:
    """Seamwatch's tap and lag poller over the test's topics until the store shows what until() wants."""
    from collectors.kafka.components import build
    from collectors.kafka.config import KafkaSettings
    from collectors.runtime import Runtime

    settings = KafkaSettings(bootstrap=[bootstrap], cluster="c1", include=(shop.topic.rsplit(".", 1)[0] + ".*",),
                             poll_interval=0.5, group_id="tap-" + shop.group)
    with Store(db) as store:
        runtime = Runtime(build(store, settings, from_beginning=True))
        runtime.start()
        try:
            wait_for(lambda: until(store.cursor()), timeout=60, what="the tap and the lag poller")
        finally:
            assert runtime.stop() == []


def test_a_record_failing_again_is_quarantined_after_max_replays(shop: Billing, produce, bootstrap,
                                                                 tmp_path) -> None:
    produce(shop.topic, [(*_order(7, poison=True), 0)])
    db = tmp_path / "s.duckdb"
    for n in range(1, 3):  # the cause is not fixed: every replay is dead-lettered again
        shop.drain()
        dead = _messages(bootstrap, shop.dlt)
        assert len(dead) == n
        last = f"{shop.dlt}/0/{n - 1}"
        run = _redrive(db, bootstrap, "--record", last, "--record", last, "--max-replays", "2")  # named twice
        assert run.returncode == 0, run.stderr
        assert f"replayed {last} → {shop.topic}/0/{n} (replay {n})" in run.stdout
    shop.drain()
    third = f"{shop.dlt}/0/2"
    assert _header(_messages(bootstrap, shop.dlt)[-1], REPLAY_COUNT) == "2"  # Spring kept the producer's headers
    run = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h", "--max-replays", "2")
    assert run.returncode == 0, run.stderr
    assert f"quarantined {third}: dead-lettered again after 2 replays" in run.stdout
    assert "already replayed" in run.stdout and "\nreplayed " not in "\n" + run.stdout
    assert len(_messages(bootstrap, shop.topic)) == 3  # the original and two replays, no third
    with Store(db, read_only=True) as store:
        states = store.cursor().execute(
            "SELECT dlt_offset, state, replay_count FROM redrives ORDER BY dlt_offset").fetchall()
    assert states == [(0, "done", 1), (1, "done", 2), (2, "quarantined", 2)]


def test_rate_limit_spaces_the_replays(shop: Billing, produce, bootstrap, tmp_path) -> None:
    produce(shop.dlt, [(f"k{i}".encode(), b"{}", []) for i in range(12)])
    started = time.monotonic()
    run = _redrive(tmp_path / "s.duckdb", bootstrap, "--dlt", shop.dlt, "--since", "1h", "--to", shop.topic,
                   "--rate", "5/s")
    took = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    assert "12 replayed" in run.stdout
    # 12 at 5/s cannot take less than (12 - 1) / 5 s; the upper bound is loose (a loaded machine)
    assert took >= 2.2
    assert len(_messages(bootstrap, shop.topic)) == 12


def test_kill_9_mid_redrive_then_rerun_leaves_exactly_one_copy(shop: Billing, produce, bootstrap,
                                                               tmp_path) -> None:
    n = 60
    produce(shop.dlt, [(f"k{i}".encode(), json.dumps({"i": i}).encode(), [("kafka_dlt-original-topic",
            shop.topic.encode())]) for i in range(n)])
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen([*SEAMWATCH, "redrive", "--db", str(db), "--bootstrap", bootstrap, "--cluster", "c1",
                             "--dlt", shop.dlt, "--since", "1h", "--rate", "20/s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ,
                                                                                          "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    seen = 0
    while seen < 20:  # the first batch of 20 is done and reported
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        seen += line.startswith("replayed ")
    time.sleep(0.5)  # the second batch: its intent recorded, part of it produced at 20/s
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = _messages(bootstrap, shop.topic)
    assert 20 <= len(before) < n
    with Store(db, read_only=True) as store:
        states = dict(store.cursor().execute("SELECT state, count(*) FROM redrives GROUP BY ALL").fetchall())
    assert states.get("intent", 0) > 0  # killed inside a batch: recorded, maybe sent, not confirmed
    landed_unconfirmed = len(before) - states.get("done", 0)

    rerun = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h")
    assert rerun.returncode == 0, rerun.stderr
    # what the killed run had sent is found in the target, not sent again
    assert ("\n" + rerun.stdout).count("\nfound replayed ") == landed_unconfirmed
    copies = [_header(m, PROVENANCE) for m in _messages(bootstrap, shop.topic)]
    assert sorted(copies) == sorted(f"{shop.dlt}/0/{i}" for i in range(n))  # each exactly once
    assert "already replayed" in rerun.stdout


def test_an_intent_whose_replay_landed_is_not_sent_again(shop: Billing, produce, bootstrap, tmp_path) -> None:
    """The window kill -9 can only hit by chance, made certain: intent recorded, replay produced, no done."""
    produce(shop.dlt, [(b"k0", b'{"i": 0}', [("kafka_dlt-original-topic", shop.topic.encode())]),
                       (b"k1", b'{"i": 1}', [("kafka_dlt-original-topic", shop.topic.encode())])])
    db = tmp_path / "s.duckdb"
    landed, lost = RecordId(shop.dlt, 0, 0), RecordId(shop.dlt, 0, 1)
    with Store(db) as store:
        Ledger(store, "c1").record_intents([(landed, shop.topic, None, 1, {0: 0, 1: 0}),
                                            (lost, shop.topic, None, 1, {0: 0, 1: 0})], "killed")
    produce(shop.topic, [(b"k0", b'{"i": 0}', [(PROVENANCE, str(landed).encode()), (REPLAY_COUNT, b"1")], 1)])

    dry = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert [line.split(" ")[:3] for line in dry.stdout.splitlines()[:2]] == [
        ["in", "doubt", str(landed)], ["in", "doubt", str(lost)]]  # a dry run reports, settles nothing

    run = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h")
    assert run.returncode == 0, run.stderr
    assert f"found replayed {landed} → {shop.topic}/1/0" in run.stdout
    assert f"replayed {lost} → {shop.topic}/" in run.stdout
    copies = sorted(_header(m, PROVENANCE) for m in _messages(bootstrap, shop.topic))
    assert copies == [str(landed), str(lost)]


def test_bad_input_is_one_line(bootstrap, tmp_path) -> None:
    db = tmp_path / "s.duckdb"
    for args, says in ((["--record", "orders.DLT/x/1"], "TOPIC/PARTITION/OFFSET"),
                       (["--dlt", "orders.DLT"], "give --record (repeatable) or --since"),
                       (["--dlt", "no-such.DLT", "--since", "1h"], "topic no-such.DLT does not exist"),
                       (["--dlt", "a.DLT", "--since", "1h", "--rate", "fast"], "--rate must look like 50/s")):
        r = _redrive(db, bootstrap, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert says in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_in_doubt_lookup_reads_past_a_transaction_marker(shop: Billing, produce, bootstrap, tmp_path) -> None:
    """A target written transactionally ends in a commit marker, no message: the lookup still finishes."""
    produce(shop.dlt, [(b"k0", b'{"i": 0}', [("kafka_dlt-original-topic", shop.topic.encode())])])
    db = tmp_path / "s.duckdb"
    landed = RecordId(shop.dlt, 0, 0)
    with Store(db) as store:
        Ledger(store, "c1").record_intents([(landed, shop.topic, None, 1, {0: 0})], "killed")
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "tx-" + shop.group})
    p.init_transactions(15)
    p.begin_transaction()
    p.produce(shop.topic, key=b"k0", value=b'{"i": 0}', partition=0,
              headers=[(PROVENANCE, str(landed).encode()), (REPLAY_COUNT, b"1")])
    p.commit_transaction(15)

    started = time.monotonic()
    run = _redrive(db, bootstrap, "--dlt", shop.dlt, "--since", "1h")
    assert run.returncode == 0, run.stderr
    assert f"found replayed {landed} → {shop.topic}/0/0" in run.stdout
    assert time.monotonic() - started < 25  # not the 30 s no-progress deadline
