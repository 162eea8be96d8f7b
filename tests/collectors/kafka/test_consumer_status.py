"""Consumer status on a real broker: the lag poller's snapshots judged by the stricter-than-Burrow rules.

Five groups run side by side for a few seconds under a lag poller polling every 0.5 s:
- `dies`: commits once (assign(), like a stream processor), then its process is gone → STOP;
- `idle`: reads everything, commits, then idles with no new messages → OK (Burrow's "caught up");
- `slow`: keeps committing but falls further behind → WARN, never STOP;
- `left`: its only member leaves the group while messages wait → STOP, an error;
- `laggard`: keeps about 3 s behind, moving: within Burrow's rules, beyond its declared max_time_lag 1s.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from collectors.derive import derive_all
from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.topology import parse_topology
from dashboard.analyses import burrow
from dashboard.analyses.window import Window
from dashboard.findings.registry import rule
from tests.collectors.kafka.conftest import FAST_GROUP, wait_for

pytestmark = pytest.mark.kafka
RUN_FOR = 10.0  # seconds of traffic after every group is in place


def _consumer(bootstrap: str, group: str, **conf: Any) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, **FAST_GROUP, **conf})


def _take(c: Consumer, n: int) -> list:
    got: list = []
    wait_for(lambda: got.extend(m for m in c.consume(n - len(got), 0.5) if not m.error()) or len(got) >= n,
             what=f"{n} messages")
    return got


class Scenario:
    def __init__(self, bootstrap: str, topic_factory, store) -> None:  # type: ignore[no-untyped-def]
        self.bootstrap, self.store = bootstrap, store
        self.run = uuid.uuid4().hex[:6]
        self.topics = {g: topic_factory(name=f"cs-{self.run}.{g}") for g in ("dies", "idle", "slow", "left", "laggard")}
        self.groups = {g: f"{g}-{self.run}" for g in self.topics}
        self.stop = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})

    def send(self, group: str, n: int) -> None:
        for _ in range(n):
            self.producer.produce(self.topics[group], b"{}", key=b"k")
        self.producer.flush(10)

    def play(self) -> Window:
        settings = KafkaSettings(bootstrap=[self.bootstrap], cluster="test", include=(f"cs-{self.run}.*",),
                                 group_id=f"tap-{self.run}", poll_interval=0.5)
        poller = LagPoller(self.store, settings)
        for g in self.topics:
            self.send(g, 10)
        start = time.time()
        poller.start()
        # dies: a stream-processor-style consumer (no group membership) commits 5 of 10, then is gone
        c = _consumer(self.bootstrap, self.groups["dies"])
        c.assign([TopicPartition(self.topics["dies"], 0, 0)])
        _take(c, 5)
        c.commit(offsets=[TopicPartition(self.topics["dies"], 0, 5)], asynchronous=False)
        c.close()
        # idle: reads all 10, commits, then polls on with nothing to read
        idle = _consumer(self.bootstrap, self.groups["idle"])
        idle.subscribe([self.topics["idle"]])
        _take(idle, 10)
        idle.commit(asynchronous=False)
        # left: reads 4, commits, leaves the group cleanly while 6 (and more) wait
        left = _consumer(self.bootstrap, self.groups["left"])
        left.subscribe([self.topics["left"]])
        _take(left, 4)
        left.commit(offsets=[TopicPartition(self.topics["left"], 0, 4)], asynchronous=False)
        wait_for(lambda: left.consume(1, 0.1) is not None and self._seen_with_members("left"), timeout=30,
                 what="the poller to see the left group's member")
        threads = [threading.Thread(target=self._slow, daemon=True), threading.Thread(target=self._laggard, daemon=True),
                   threading.Thread(target=self._feed, daemon=True)]
        for t in threads:
            t.start()
        left.close()
        deadline = time.monotonic() + RUN_FOR
        while time.monotonic() < deadline:
            idle.consume(10, 0.2)
        poller.stop()  # before the consumers below leave their groups: that is not what is judged
        self.stop.set()
        for t in threads:
            t.join(15)
        idle.close()
        derive_all(self.store)
        from datetime import UTC, datetime, timedelta

        def naive(ts: float) -> datetime:
            return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)

        return Window(naive(start) - timedelta(minutes=1), naive(time.time()) + timedelta(minutes=1))

    def _seen_with_members(self, group: str) -> bool:
        return bool(self.store.cursor().execute(
            "SELECT count(*) FROM group_offsets WHERE group_id = ? AND members > 0 AND committed_offset IS NOT NULL",
            [self.groups[group]]).fetchone()[0])

    def _feed(self) -> None:
        """New messages for dies, slow, left and laggard: 10 a second for slow, 2 for the others."""
        tick = 0
        while not self.stop.is_set():
            self.send("slow", 1)
            if tick % 5 == 0:
                for g in ("dies", "left", "laggard"):
                    self.send(g, 1)
            tick += 1
            time.sleep(0.1)

    def _slow(self) -> None:
        """Two messages a second, committed one by one: moving, but further behind each poll."""
        c = _consumer(self.bootstrap, self.groups["slow"])
        c.subscribe([self.topics["slow"]])
        try:
            while not self.stop.is_set():
                for m in c.consume(1, 0.2):
                    if not m.error():
                        c.commit(message=m, asynchronous=False)
                        time.sleep(0.5)
        finally:
            c.close()

    def _laggard(self) -> None:
        """Processes each message once it is 3 s old: keeps up in messages, 3 s behind in time."""
        c = _consumer(self.bootstrap, self.groups["laggard"])
        c.subscribe([self.topics["laggard"]])
        try:
            while not self.stop.is_set():
                for m in c.consume(1, 0.2):
                    if m.error():
                        continue
                    wait = m.timestamp()[1] / 1000 + 3.0 - time.time()
                    if wait > 0 and self.stop.wait(wait):
                        return
                    c.commit(message=m, asynchronous=False)
        finally:
            c.close()


@pytest.fixture(scope="module")
def played(kafka_broker, tmp_path_factory):  # type: ignore[no-untyped-def]
    from collectors.store import Store
    from tests.collectors.kafka.conftest import topic_maker

    with Store(tmp_path_factory.mktemp("status") / "s.duckdb") as store, topic_maker(kafka_broker.bootstrap) as make:
        scenario = Scenario(kafka_broker.bootstrap, make, store)
        window = scenario.play()
        cur = store.cursor()
        parts = burrow.partition_status(cur, window).set_index("group_id")
        over = burrow.status_over_time(cur, window)
        topo = parse_topology({
            "services": {"svc": {}}, "topics": {t: {"producer": "svc"} for t in scenario.topics.values()},
            "groups": {scenario.groups["laggard"]: {"service": "svc", "topics": [scenario.topics["laggard"]],
                                                    "max_time_lag": "1s"}}})
        found = {f.subject: f for f in rule("CONSUMER_LAG").findings(cur, window, topo)}
        yield scenario.groups, parts, over, found


def test_commits_once_then_dies_is_stop(played) -> None:
    groups, parts, _, found = played
    assert parts.loc[groups["dies"], "status"] == "STOP", parts.loc[groups["dies"]].to_dict()
    assert parts.loc[groups["dies"], "committed_offset"] == 5
    assert found[groups["dies"]].severity == "error"


def test_commits_then_idles_with_nothing_new_is_ok(played) -> None:
    groups, parts, over, found = played
    assert parts.loc[groups["idle"], "status"] == "OK"
    assert set(over.loc[over["group_id"] == groups["idle"], "status"]) == {"OK"}
    assert groups["idle"] not in found


def test_slow_but_moving_is_warn_not_stop(played) -> None:
    groups, parts, over, found = played
    seen = over.loc[over["group_id"] == groups["slow"], "status"]
    assert parts.loc[groups["slow"], "status"] == "WARN", over.loc[over["group_id"] == groups["slow"]].to_string()
    assert "STOP" not in set(seen) and "STALL" not in set(seen), over.loc[
        over["group_id"] == groups["slow"], ["at", "status", "reason", "members", "committed_offset"]].to_string()
    assert found[groups["slow"]].severity == "warning"


def test_all_members_left_with_lag_is_an_error(played) -> None:
    groups, parts, over, found = played
    row = parts.loc[groups["left"]]
    assert row["status"] == "STOP" and row["reason"].startswith("no members"), over.loc[
        over["group_id"] == groups["left"]].to_string()
    assert row["committed_offset"] == 4
    f = found[groups["left"]]
    assert (f.severity, f.evidence["status"]) == ("error", "ERR")


def test_declared_max_time_lag_exceeded_is_a_finding(played) -> None:
    groups, _, _, found = played
    f = found[groups["laggard"]]
    assert f.severity == "error"
    limits = f.evidence["limits"]
    assert limits["max_time_lag_s"] == 1.0 and limits["time_lag_seen_s"] > 2.0, limits
    assert "declared max_time_lag 1s" in f.summary
