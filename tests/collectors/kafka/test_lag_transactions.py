"""On a topic written by a transactional producer (commit and abort markers take offsets of their
own), a group that read every record and committed "last offset + 1" is caught up, not one message
behind for good; a group that left a record unread is still behind, by what the broker states."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import duckdb
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.collectors.kafka.conftest import poll_lag
from tests.support.processes import seamwatch

pytestmark = pytest.mark.kafka


def _transactions(bootstrap: str, topic: str) -> dict[int, list[int]]:
    """Three transactions (committed, aborted, committed) on two partitions; the offsets of the
    records a read_committed consumer gets, by partition."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"payments-{uuid.uuid4().hex[:6]}"})
    producer.init_transactions(30)
    for n, commit, partitions in ((3, True, (0, 1)), (2, False, (0,)), (4, True, (0,))):
        producer.begin_transaction()
        for i in range(n):
            for p in partitions:
                producer.produce(topic, json.dumps({"eventId": f"{p}-{n}-{i}", "type": "PaymentCaptured"}).encode(),
                                 partition=p)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex[:6]}",
                       "isolation.level": "read_committed", "enable.partition.eof": True,
                       "enable.auto.commit": False})
    reader.assign([TopicPartition(topic, p, 0) for p in (0, 1)])
    offsets: dict[int, list[int]] = {0: [], 1: []}
    ended: set[int] = set()
    deadline = time.monotonic() + 30
    while len(ended) < 2 and time.monotonic() < deadline:
        for msg in reader.consume(10, timeout=0.5):
            if msg.error() is None:
                offsets[msg.partition()].append(msg.offset())
            else:
                ended.add(msg.partition())
    reader.close()
    assert ended == {0, 1} and [len(offsets[0]), len(offsets[1])] == [7, 3], offsets
    return offsets


def _commit(bootstrap: str, group: str, topic: str, at: dict[int, int]) -> None:
    app = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    app.commit(offsets=[TopicPartition(topic, p, o) for p, o in at.items()], asynchronous=False)
    app.close()


def test_transaction_markers_are_not_lag(bootstrap, topic_factory, tmp_path) -> None:
    topic = topic_factory("payments-tx", partitions=2)
    records = _transactions(bootstrap, topic)
    run = uuid.uuid4().hex[:6]
    done, behind = f"ledger-{run}", f"fraud-{run}"
    _commit(bootstrap, done, topic, {p: offs[-1] + 1 for p, offs in records.items()})  # as consumers commit
    _commit(bootstrap, behind, topic, {0: records[0][-1], 1: records[1][-1] + 1})  # the last record unread

    db = tmp_path / "tx.duckdb"
    out = poll_lag(bootstrap, db, "--topic", topic)

    with duckdb.connect(str(db), read_only=True) as con:
        polls = con.execute("SELECT count(DISTINCT polled_at) FROM group_offsets WHERE group_id = ?",
                            [behind]).fetchone()[0]
        lag = dict(con.execute("SELECT group_id || '/' || \"partition\", arg_max(high_watermark - committed_offset, "
                               "polled_at) FROM group_offsets WHERE topic = ? GROUP BY ALL", [topic]).fetchall())
        waited = dict(con.execute("SELECT \"partition\", arg_max(time_lag_s, \"at\") FROM consumer_status "
                                  "WHERE group_id = ? GROUP BY ALL", [done]).fetchall())
        ends = dict(con.execute("SELECT \"partition\", max(high_watermark) FROM topic_offsets WHERE topic = ? "
                                "GROUP BY ALL", [topic]).fetchall())
    assert polls >= 4, (polls, out)  # (the first poll finds the partitions quiet only at the second)
    # the broker's high watermarks stay as they are, one past the last marker
    assert ends == {0: records[0][-1] + 2, 1: records[1][-1] + 2}, ends
    assert waited == {0: 0.0, 1: 0.0}, waited  # and it waits for nothing: its time lag is 0 s, not growing
    assert lag == {f"{done}/0": 0, f"{done}/1": 0, f"{behind}/0": 2, f"{behind}/1": 0}, lag

    res = subprocess.run(seamwatch("findings", "--db", str(db), "--json"), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    flagged = {f["subject"]: f["evidence"]["final_lag"] for f in json.loads(res.stdout)["findings"]
               if f["rule"] == "CONSUMER_LAG" and f["subject"] in (done, behind)}
    assert flagged == {behind: {f"{topic}/0": 2, f"{topic}/1": 0}}, flagged
