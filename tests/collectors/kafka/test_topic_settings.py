"""Topic settings on a real broker: the tap and the lag poller store each topic's cleanup.policy and
retention.ms; the audit judges a compacted topic's records as states (a version asked of them, not an
event id or time), and LAG_NEAR_RETENTION a group's time lag against the retention."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from collectors.kafka.config import KafkaSettings
from collectors.kafka.tap import KafkaTap
from dashboard.analyses.window import Window
from dashboard.findings import engine
from tests.collectors.kafka.conftest import wait_for

pytestmark = pytest.mark.kafka


def _tap(store, bootstrap: str, *topics: str) -> KafkaTap:
    return KafkaTap(store, KafkaSettings(bootstrap=[bootstrap], cluster="test", include=topics, batch_seconds=0.3,
                                         topic_refresh=0.5, group_id=f"tap-{uuid.uuid4().hex[:6]}"),
                    from_beginning=True)


def _collect(store, bootstrap: str, topics: list[str], until) -> None:
    tap = _tap(store, bootstrap, *topics)
    tap.start()
    try:
        wait_for(until, what="records and settings")
    finally:
        tap.stop()


def _settings(store) -> list[tuple]:
    return store.cursor().execute(
        "SELECT topic, cleanup_policy, retention_ms FROM topic_configs ORDER BY topic, observed_at").fetchall()


def test_a_compacted_topics_states_are_asked_for_a_version_not_an_event_id_or_time(
        store, bootstrap, topic_factory, produce) -> None:
    """A compacted customers topic, its values keyed states with a version and no event id or
    time: ENVELOPE_MISSING said it lacked 'id, time'. The same values on an ordinary topic still
    lack them, and a compacted topic's states without a version still lack that."""
    state = topic_factory("customers", config={"cleanup.policy": "compact"})
    events = topic_factory("customer-events")
    bare = topic_factory("profiles", config={"cleanup.policy": "compact,delete", "retention.ms": "3600000"})
    values = [(f"c-{i}".encode(), json.dumps({"customer": f"c-{i}", "tier": "gold", "version": i}).encode(), None)
              for i in range(5)]
    produce(state, values)
    produce(events, values)
    produce(bare, [(b"p-1", json.dumps({"customer": "p-1", "tier": "gold"}).encode(), None)])
    produce(state, [(b"c-0", None, None)])  # a tombstone: the customer deleted
    topics = [state, events, bare]

    def stored() -> bool:
        rows = store.cursor().execute("SELECT count(*) FROM records").fetchone()[0]
        return rows == 12 and len(_settings(store)) == 3

    _collect(store, bootstrap, topics, stored)
    assert _settings(store) == sorted([(state, "compact", 604_800_000), (events, "delete", 604_800_000),
                                       (bare, "compact,delete", 3_600_000)])
    cur = store.cursor()
    found = {f.subject: f for f in engine.run(cur, Window.everything(cur)) if f.rule == "ENVELOPE_MISSING"}
    assert state not in found, found[state].summary
    assert found[events].summary.startswith(f"events on {events} lack: id, time"), found[events].summary
    assert found[bare].summary.startswith(f"events on {bare} lack: version"), found[bare].summary

    # a second session with the same settings writes none again; a changed policy writes one row
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the answer is in
    [done] = admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, events, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET)])]).values()
    done.result(15)
    produce(events, [(b"c-9", json.dumps({"customer": "c-9", "version": 9}).encode(), None)])
    _collect(store, bootstrap, topics, lambda: len(_settings(store)) == 4)
    assert [r for r in _settings(store) if r[0] == events] == [(events, "delete", 604_800_000),
                                                                (events, "compact", 604_800_000)]
    found = {f.subject for f in engine.run(cur, Window.everything(cur)) if f.rule == "ENVELOPE_MISSING"}
    assert events not in found  # judged by the topic's settings now


def test_with_lag_polling_alone_a_group_about_to_lose_records_is_found_and_a_changed_retention_seen(
        store, bootstrap, admin, topic_factory, produce, consumer_factory) -> None:
    """`collect --no-tap`: the lag poller asks the settings of the topics its groups read, which
    the tap never read, so LAG_NEAR_RETENTION judges them; a retention changed while it runs is
    written as one more row when the topic is asked again, and settings unchanged are not."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    from collectors.derive import derive_all
    from collectors.kafka.lag import LagPoller
    from collectors.kafka.lag_snapshot import Snapshotter

    run = uuid.uuid4().hex[:6]
    kept = topic_factory(f"ret-{run}.ledger", config={"retention.ms": "30000"})
    forever = topic_factory(f"ret-{run}.audit", config={"retention.ms": "-1"})
    for topic, group in ((kept, f"ledger-{run}"), (forever, f"auditor-{run}")):
        consumer = consumer_factory(group)
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # and reads no further
        consumer.close()
    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(f"ret-{run}.*",), poll_interval=1)
    poller = LagPoller(store, settings)  # in its child process, as `collect` runs it
    poller.start()
    try:
        wait_for(lambda: len(_settings(store)) == 2, what="both topics' settings")
        first = time.monotonic()
        while time.monotonic() - first < 18:  # the groups' oldest unread record ages to 60 % of 30 s
            produce(kept, [(b"k", b"{}", None)])
            produce(forever, [(b"k", b"{}", None)])
            time.sleep(0.5)
    finally:
        poller.stop()
    assert _settings(store) == [(forever, "delete", -1), (kept, "delete", 30_000)]  # once each, over ~20 polls
    derive_all(store)
    cur = store.cursor()
    found = [f for f in engine.run(cur, Window.everything(cur)) if f.rule == "LAG_NEAR_RETENTION"]
    assert [(f.subject, f.severity) for f in found] == [(f"ledger-{run}", "warning")], found
    assert "whose records are deleted after 30 s" in found[0].summary, found[0].summary

    resource = ConfigResource(ResourceType.TOPIC, kept, incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(15)
    poller = LagPoller(store, settings, isolated=False)
    assert isinstance(poller.snapshots, Snapshotter)
    poller.snapshots.ask_every = 0  # every topic asked at every poll
    try:
        wait_for(lambda: poller.poll_once() or len(_settings(store)) == 3, what="the changed retention")
        for _ in range(3):
            poller.poll_once()
    finally:
        poller.stop()
    assert _settings(store) == [(forever, "delete", -1), (kept, "delete", 30_000), (kept, "delete", 60_000)]
