"""On a broker with ACLs (scripts/kafka_broker.py runs the StandardAuthorizer): a topic the
collector's login may not READ costs that topic alone. The tap reads the others meanwhile, names
the partition it cannot read once, and taps it without a restart once READ is granted; the lag
poller keeps the lag the broker states for a partition it cannot read, and says so once."""

from __future__ import annotations

import logging
import subprocess
import uuid

import duckdb
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from collectors.kafka.readable_end import ReadableEnd
from tests.collectors.kafka.conftest import committed, events, wait_for
from tests.support.processes import interrupt, seamwatch

pytestmark = pytest.mark.kafka


def _acl(topic: str, user: str, operation: AclOperation, permission: AclPermissionType) -> AclBinding:
    return AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*", operation,
                      permission)


def _deny_read(admin, topic: str, user: str) -> None:
    """The login sees the topic (DESCRIBE) and may not read it: what a production cluster's ACLs
    often say of a topic a team keeps to itself."""
    for f in admin.create_acls([_acl(topic, user, AclOperation.DESCRIBE, AclPermissionType.ALLOW),
                                _acl(topic, user, AclOperation.READ, AclPermissionType.DENY)]).values():
        f.result()


def _grant_read(admin, topic: str, user: str) -> None:
    gone = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, f"User:{user}", "*",
                            AclOperation.READ, AclPermissionType.DENY)
    for f in admin.delete_acls([gone]).values():
        f.result()
    for f in admin.create_acls([_acl(topic, user, AclOperation.READ, AclPermissionType.ALLOW)]).values():
        f.result()


def _sasl_settings(user: str, password: str) -> dict[str, str]:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": user,
            "sasl.password": password}


def test_a_topic_the_login_may_not_read_costs_only_that_topic(sasl, bootstrap, admin, topic_factory, produce,
                                                              tmp_path) -> None:
    address, user, password = sasl
    readable, denied = topic_factory("acl-open"), topic_factory("acl-denied")
    _deny_read(admin, denied, user)
    produce(readable, events("open", 40))
    produce(denied, events("denied", 30))
    group = f"acl-tap-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "acl.duckdb"
    x = [a for k, v in _sasl_settings(user, password).items() for a in ("-X", f"{k}={v}")]
    proc = subprocess.Popen(seamwatch("collect", "--db", str(db), "--bootstrap", address, "--cluster", "acl",
                                      "--topic", readable, "--topic", denied, "--from-beginning",
                                      "--tap-group", group, "--poll-interval", "0.5", *x),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # the tap's commits are read on the plain listener (a super user) while it runs
        wait_for(lambda: proc.poll() is not None or committed(bootstrap, group, readable) >= 40, timeout=60,
                 interval=0.3, what="the readable topic tapped beside the denied one")
        assert committed(bootstrap, group, denied) == 0
        _grant_read(admin, denied, user)
        wait_for(lambda: proc.poll() is not None or committed(bootstrap, group, denied) >= 30, timeout=60,
                 interval=0.3, what="the denied topic tapped once READ is granted, without a restart")
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    said = [line for line in out.splitlines() if "authorization" in line.lower()]
    assert len(said) == 1, out  # once, not at every fetch
    assert f"{denied}/0: " in said[0] and "denies the collector's login READ" in said[0], said
    assert password not in out
    with duckdb.connect(str(db), read_only=True) as con:
        stored = dict(con.execute("SELECT topic, count(*) FROM records GROUP BY ALL").fetchall())
    assert stored == {readable: 40, denied: 30}


def test_a_partition_the_poller_may_not_read_keeps_the_lag_the_broker_states(sasl, bootstrap, admin, topic_factory,
                                                                             produce, caplog) -> None:
    address, user, password = sasl
    denied = topic_factory("acl-lag")
    produce(denied, events("lag", 10))
    _deny_read(admin, denied, user)
    app = Consumer({"bootstrap.servers": bootstrap, "group.id": f"acl-app-{uuid.uuid4().hex[:6]}"})
    app.commit(offsets=[TopicPartition(denied, 0, 8)], asynchronous=False)  # two records short of the end
    app.close()
    caplog.set_level(logging.INFO, logger="collectors.kafka.readable_end")
    end = ReadableEnd({"bootstrap.servers": address, **_sasl_settings(user, password)})
    behind = {(denied, 0): ({8}, 10)}
    # three polls: the partition is quiet from the second, read then, refused, and not read again
    assert [end.caught_up(behind) for _ in range(3)] == [set(), set(), set()]  # the lag stays 2, as stated
    said = [r.getMessage() for r in caplog.records if r.name == "collectors.kafka.readable_end"]
    assert len(said) == 1 and said[0].startswith(f"cannot read {denied}/0"), said


def test_a_topic_whose_settings_the_poller_may_not_describe_costs_only_its_settings(sasl, bootstrap, admin,
                                                                                     topic_factory, produce) -> None:
    """DescribeConfigs denied on one topic: the lag poller's snapshots go on, the other topic's
    settings are stored, and the denied one's are not (LAG_NEAR_RETENTION then does not judge it)."""
    from collectors.kafka.config import KafkaSettings
    from collectors.kafka.lag_snapshot import Snapshotter

    address, user, password = sasl
    run = uuid.uuid4().hex[:6]
    told = topic_factory(f"acl-cfg-{run}.told", config={"retention.ms": "3600000"})
    hidden = topic_factory(f"acl-cfg-{run}.hidden", config={"retention.ms": "60000"})
    # once a topic has ACLs, the broker's allow-if-none-found no longer covers it: DESCRIBE is granted
    for f in admin.create_acls([_acl(hidden, user, AclOperation.DESCRIBE, AclPermissionType.ALLOW),
                                _acl(hidden, user, AclOperation.DESCRIBE_CONFIGS, AclPermissionType.DENY)]).values():
        f.result()
    for topic in (told, hidden):
        produce(topic, events(topic, 3))
    snapshots = Snapshotter(KafkaSettings(bootstrap=[address], cluster="acl", include=(f"acl-cfg-{run}.*",),
                                          extra=_sasl_settings(user, password)))
    settings: dict = {}
    for _ in range(5):  # an answer comes with the snapshot after the one that asked, at the latest
        _, topic_rows, got = snapshots.snapshot()
        settings.update(got)
    assert {r["topic"] for r in topic_rows} == {told, hidden}  # the snapshots went on
    assert settings == {told: ("delete", 3_600_000)}
