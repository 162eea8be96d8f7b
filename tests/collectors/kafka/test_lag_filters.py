"""The lag poller keeps only the groups and topics it is told to (Burrow's group allowlist and
denylist, and the collector's topic patterns); without patterns, every group on every topic."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import duckdb
import pytest
from confluent_kafka import TopicPartition

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from tests.collectors.kafka.conftest import poll_lag, wait_for
from tests.support.processes import seamwatch

pytestmark = pytest.mark.kafka


def _commit(consumer_factory, group: str, at: dict[str, int]) -> None:
    """A group that committed these offsets (partition 0 of each topic) and has no member now."""
    c = consumer_factory(group)
    c.commit(offsets=[TopicPartition(t, 0, o) for t, o in at.items()], asynchronous=False)
    c.close()


class _Described:
    """The poller's admin client, noting which groups it is asked to describe."""

    def __init__(self, admin: Any) -> None:
        self._admin = admin
        self.groups: set[str] = set()

    def describe_consumer_groups(self, groups: list[str], **kw: Any) -> Any:
        self.groups.update(groups)
        return self._admin.describe_consumer_groups(groups, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._admin, name)


def _stored(store, run: str) -> set[tuple[str, str, Any]]:
    return set(store.cursor().execute(
        "SELECT group_id, topic, committed_offset FROM group_offsets WHERE group_id LIKE ?", [f"%-{run}"]).fetchall())


def test_group_and_topic_patterns(store, bootstrap, topic_factory, produce, consumer_factory) -> None:
    run = uuid.uuid4().hex[:6]
    orders, bench = topic_factory(name=f"flt-{run}.orders"), topic_factory(name=f"flt-{run}.bench")
    produce(orders, [(b"k", b"{}", None)] * 5)
    produce(bench, [(b"k", b"{}", None)] * 5)
    _commit(consumer_factory, f"shop-{run}", {orders: 3})
    _commit(consumer_factory, f"mixed-{run}", {orders: 2, bench: 4})  # keeps its wanted topic only
    _commit(consumer_factory, f"benchonly-{run}", {bench: 1})  # no wanted topic: left out
    _commit(consumer_factory, f"old-test-{run}", {orders: 1})  # stale groups a shared cluster keeps
    _commit(consumer_factory, f"loadtest-{run}", {orders: 1})
    _commit(consumer_factory, f"other-{run}", {orders: 1})  # not in --group
    # a live member holding the unwanted topic's partition it never committed: no NULL row for it
    reader = consumer_factory(f"reader-{run}", [orders, bench], **{"session.timeout.ms": 30000})
    wait_for(lambda: reader.consume(1, 0.2) is not None and len(reader.assignment()) == 2, timeout=60,
             what="reader holding both partitions")
    reader.commit(offsets=[TopicPartition(orders, 0, 5)], asynchronous=False)

    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(f"flt-{run}.*",), exclude=("*.bench",),
                             groups=(f"*-{run}",), exclude_groups=("old-*", "loadtest-*", f"other-{run}"))
    poller = LagPoller(store, settings, isolated=False)  # the snapshots on this thread, to watch its admin client
    try:
        poller.snapshots._admin = admin = _Described(poller.snapshots._client())
        poller.poll_once()
    finally:
        poller.stop()

    assert _stored(store, run) == {(f"shop-{run}", orders, 3), (f"mixed-{run}", orders, 2),
                                   (f"reader-{run}", orders, 5)}
    # excluded groups are not even described (a group without a wanted topic is: its topics are
    # known only from its offsets)
    assert {g for g in admin.groups if g.endswith(run)} == {f"shop-{run}", f"mixed-{run}", f"benchonly-{run}",
                                                             f"reader-{run}"}
    assert poller.status().groups >= 3


def test_without_patterns_every_group_counts_internal_topics_too(store, bootstrap, topic_factory, produce,
                                                                   consumer_factory) -> None:
    run = uuid.uuid4().hex[:6]
    monitoring = topic_factory(name=f"_confluent-monitoring-{run}")  # a topic the tap never reads
    orders = topic_factory(name=f"dflt-{run}.orders")
    produce(monitoring, [(b"k", b"{}", None)] * 3)
    produce(orders, [(b"k", b"{}", None)] * 3)
    _commit(consumer_factory, f"control-center-{run}", {monitoring: 2})
    _commit(consumer_factory, f"old-test-{run}", {orders: 1})
    poller = LagPoller(store, KafkaSettings(bootstrap=[bootstrap], cluster="test"))
    try:
        poller.poll_once()
    finally:
        poller.stop()
    assert _stored(store, run) == {(f"control-center-{run}", monitoring, 2), (f"old-test-{run}", orders, 1)}


def test_collect_exclude_group_keeps_stale_groups_out_of_findings(bootstrap, topic_factory, produce,
                                                                   consumer_factory, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    topic, other = topic_factory(f"payments-{run}"), topic_factory(f"audit-{run}")
    produce(topic, [(b"k", b"{}", None)] * 5)
    produce(other, [(b"k", b"{}", None)] * 5)
    live, stale, elsewhere = f"ledger-{run}", f"bench-ledger-{run}", f"auditor-{run}"
    for group in (live, stale):  # both 3 messages behind
        _commit(consumer_factory, group, {topic: 2})
    _commit(consumer_factory, elsewhere, {other: 2})  # behind too, on a topic --topic leaves out

    db = tmp_path / "groups.duckdb"
    poll_lag(bootstrap, db, "--topic", topic, "--group", f"*-{run}", "--exclude-group", "bench-*")

    with duckdb.connect(str(db), read_only=True) as con:
        stored = {g for (g,) in con.execute("SELECT DISTINCT group_id FROM group_offsets").fetchall()}
    assert {g for g in stored if g.endswith(run)} == {live}, stored

    res = subprocess.run(seamwatch("findings", "--db", str(db), "--json"), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    subjects = {f["subject"] for f in json.loads(res.stdout)["findings"] if f["subject"].endswith(run)}
    assert subjects == {live}, subjects
