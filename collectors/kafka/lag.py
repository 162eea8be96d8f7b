"""The lag poller: every N seconds, a snapshot of consumer groups and topic watermarks.

Per poll it lists the groups (any state, any protocol) and keeps those the group patterns
want (KafkaSettings.wants_group), describes their members, reads each group's committed
offsets (one request per group, as the Admin API requires) on the topics the topic patterns
want (KafkaSettings.lag_wants: a group with none is left out), and the low and high
watermarks of every partition those groups or the topic patterns touch. It writes
`group_offsets` rows (committed offset NULL where a member holds a partition it never
committed) and `topic_offsets` rows — the (end offset, time) points that time-lag
interpolation and Burrow's status rules read — in one transaction per snapshot.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from collectors.kafka.config import KafkaSettings
from collectors.kafka.readable_end import PROBE_SPAN, ReadableEnd
from collectors.logrepeat import rate_limit
from collectors.model import GROUP_OFFSET_SCHEMA, TOPIC_OFFSET_SCHEMA, to_table
from collectors.outage import Outage
from collectors.runtime import ThreadComponent
from collectors.status import LagStatus, us_to_s
from collectors.store import Store, faults
from collectors.store.lease import Lease

log = logging.getLogger(__name__)
rate_limit(log)  # a broker away repeats the same error on every poll

REQUEST_TIMEOUT = 10.0
# committed-offset requests the poller keeps in flight: enough to hide the round trips of a
# cluster with thousands of groups, few enough not to flood a group coordinator
OFFSETS_IN_FLIGHT = 32


def _now_us() -> int:
    return time.time_ns() // 1000


def _result(fut: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
    return fut.result(timeout=timeout)


def _of_the_group(exc: Any) -> bool:
    """Whether a failed per-group request is that group's answer (deleted between list and describe,
    not authorised), to skip, rather than the cluster not answering (a local error: timed out,
    transport, every broker down), which fails the poll at once: skipped group by group, a broker
    gone mid-poll cost a request timeout per batch of groups before the poll said so."""
    err = exc.args[0] if exc.args else None
    return hasattr(err, "code") and err.code() >= 0


class LagPoller(ThreadComponent):
    """A Component (collectors.runtime) polling group offsets and watermarks on a thread."""

    def __init__(self, store: Store, settings: KafkaSettings) -> None:
        self.store = store
        self.settings = settings
        self.cluster = settings.cluster_name
        self.name = f"kafka-lag[{self.cluster}]"
        super().__init__()
        self._lock = threading.Lock()
        self._admin: Any = None
        self._status: dict[str, Any] = {"state": "stopped", "polls": 0, "groups": 0, "partitions": 0,
                                        "last_poll_at": None, "last_error": None, "failures": 0}
        # on a lake, one collector's poller polls a cluster; the others stand by and take over
        # when its lease runs out, at most half an interval after a poll that did not come
        interval = float(settings.poll_interval)
        self._lease = Lease(store, f"lag:{self.cluster}", ttl=interval * 1.5)
        self._standby_check = max(0.2, interval / 4)
        self._outage = Outage(log, f"{self.name}: polling")
        self._readable: ReadableEnd | None = None
        self.offsets_in_flight = OFFSETS_IN_FLIGHT  # (1: one group after the other, as `bench lag` compares)

    # -- Component ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._set(state="starting")
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._lease.release()
        self._set(state="stopped")

    def status(self) -> LagStatus:
        with self._lock:
            s = self._status
            return LagStatus(state=s["state"], interval_s=float(self.settings.poll_interval), polls=s["polls"],
                             groups=s["groups"], partitions=s["partitions"], failures=s["failures"],
                             last_poll_at=us_to_s(s["last_poll_at"]),  # kept in µs like the rows' times
                             last_error=s["last_error"])

    # -- internals ------------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status.update(kw)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if not self._lease.hold():  # raises when the lake is away: a failed poll, said below
                    self._set(state="standby")
                    self._stop.wait(self._standby_check)
                    continue
                self.poll_once()
                self._outage.worked()
                backoff = 1.0
                wait = max(0.0, self.settings.poll_interval - (time.monotonic() - started))
            except Exception as exc:  # noqa: BLE001 (a broker away must not end the poller)
                fault = faults.fault(exc, self.store.path)
                with self._lock:
                    self._status.update(state="retrying", last_error=fault.reason)
                    self._status["failures"] += 1
                # one line per outage: a broker away fails every poll the same way
                self._outage.failed(fault.kind or fault.reason, f"{self.name}: poll failed, retrying with backoff "
                                                                f"up to {max(60.0, self.settings.poll_interval):g} s: "
                                                                f"{fault.reason}")
                self._admin = None  # a fresh client after a failure
                wait = backoff * (0.8 + 0.4 * random.random())  # noqa: S311 (jitter, not crypto)
                backoff = min(backoff * 2, max(60.0, self.settings.poll_interval))
            self._serve_logs()
            self._stop.wait(wait)

    def _serve_logs(self) -> None:
        """Hand librdkafka's queued log lines to Python logging (an admin client's come from poll())."""
        if self._admin is not None:
            try:
                self._admin.poll(0)
            except Exception as exc:  # noqa: BLE001 (logs must never stop the poller)
                log.debug("%s: serving librdkafka logs: %s", self.name, exc)

    def _client(self) -> Any:
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            conf = self.settings.client_conf()
            conf.setdefault("client.id", "seamwatch-lag")
            self._admin = AdminClient(conf)
        return self._admin

    def snapshot(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One snapshot: (group_offsets rows, topic_offsets rows)."""
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        admin = self._client()
        listing = _result(admin.list_consumer_groups(request_timeout=REQUEST_TIMEOUT))
        # only the groups --group/--exclude-group keep are described and read; never the tap's own,
        # which is Seamwatch reading, not part of the system it watches (its lag still shows in the
        # cluster's own tools and in the tap's status)
        groups = {g.group_id: g for g in listing.valid if self.settings.wants_group(g.group_id)}
        described: dict[str, Any] = {}
        # a request the cluster did not answer fails the poll, once the requests already sent are
        # over (each within REQUEST_TIMEOUT): the client is dropped after a failed poll, and
        # librdkafka must not be torn down with coordinator requests in flight
        unanswered: Exception | None = None
        if groups:
            for gid, fut in admin.describe_consumer_groups(list(groups), request_timeout=REQUEST_TIMEOUT).items():
                try:
                    described[gid] = _result(fut)
                except (KafkaException, TimeoutError) as exc:  # a group deleted between list and describe
                    if not _of_the_group(exc):
                        unanswered = unanswered or exc
                    log.debug("describe %s: %s", gid, exc)
        if unanswered is not None:
            raise unanswered
        committed: dict[str, dict[tuple[str, int], int | None]] = {}
        # one group per request (the Admin API takes no more), offsets_in_flight of them at a time:
        # asked one after the other, a cluster's thousand groups took a thousand round trips a poll
        pending = deque(groups)
        asked: deque[tuple[str, Any]] = deque()
        while pending or asked:
            if unanswered is not None:
                pending.clear()  # ask no more; see the answers already asked for out
            while pending and len(asked) < self.offsets_in_flight:
                gid = pending.popleft()
                asked.append((gid, admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(gid)], request_timeout=REQUEST_TIMEOUT)[gid]))
            gid, fut = asked.popleft()
            try:
                res = _result(fut)
            except (KafkaException, TimeoutError) as exc:
                if not _of_the_group(exc):
                    unanswered = unanswered or exc
                log.debug("offsets of %s: %s", gid, exc)
                continue
            committed[gid] = {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
                              for tp in res.topic_partitions or []
                              if tp.error is None and self.settings.lag_wants(tp.topic)}

        if unanswered is not None:
            raise unanswered
        md = admin.list_topics(timeout=REQUEST_TIMEOUT)
        partitions = {(t, p) for t, tm in md.topics.items() if tm.error is None for p in tm.partitions}
        wanted = {tp for tp in partitions if self.settings.wants(tp[0])}
        for offsets in committed.values():
            wanted |= offsets.keys() & partitions  # a group's topics count even if internal (never tapped)
        high = watermarks(admin, wanted, OffsetSpec.latest(), TopicPartition)
        low = watermarks(admin, wanted, OffsetSpec.earliest(), TopicPartition)

        caught = self._caught_up(committed, high)
        now = _now_us()
        topic_rows = [{"cluster": self.cluster, "topic": t, "partition": p, "low_watermark": low.get((t, p)),
                       "high_watermark": high.get((t, p)), "observed_at": now} for t, p in sorted(wanted)]
        group_rows: list[dict[str, Any]] = []
        for gid, listing_entry in groups.items():
            desc = described.get(gid)
            state = _state_name(desc.state if desc is not None else listing_entry.state)
            members = list(desc.members) if desc is not None else []
            owner: dict[tuple[str, int], str] = {}
            for m in members:
                for tp in (m.assignment.topic_partitions if m.assignment else []) or []:
                    if self.settings.lag_wants(tp.topic):
                        owner[(tp.topic, tp.partition)] = m.client_id
            offsets = dict(committed.get(gid, {}))
            for tp in owner:  # held but never committed: lag is unknown, not zero
                offsets.setdefault(tp, None)
            for (t, p), off in sorted(offsets.items()):
                group_rows.append({
                    "cluster": self.cluster, "group_id": gid, "topic": t, "partition": p,
                    "committed_offset": off,
                    # where the group's lag ends: the high watermark, or its committed offset when
                    # only transaction markers lie past it; NULL when the topic is gone
                    "high_watermark": off if (t, p, off) in caught else high.get((t, p)),
                    "state": state, "members": len(members), "client_id": owner.get((t, p)), "polled_at": now,
                })
        return group_rows, topic_rows

    def _caught_up(self, committed: dict[str, dict[tuple[str, int], int | None]],
                   high: dict[tuple[str, int], int]) -> set[tuple[str, int, int]]:
        """The (topic, partition, committed offset) a little behind the high watermark with no record
        in between (collectors/kafka/readable_end.py): a group committed there has read every record."""
        behind: dict[tuple[str, int], tuple[set[int], int]] = {}
        for offsets in committed.values():
            for tp, off in offsets.items():
                h = high.get(tp)
                if off is not None and h is not None and 0 < h - off <= PROBE_SPAN:
                    behind.setdefault(tp, (set(), h))[0].add(off)
        if not behind:
            return set()
        if self._readable is None:
            self._readable = ReadableEnd(self.settings.client_conf())
        try:
            return self._readable.caught_up(behind)
        except Exception as exc:  # noqa: BLE001 (the lag as the broker states it, then)
            log.debug("%s: reading partitions for their readable end: %s", self.name, exc)
            return set()

    def poll_once(self) -> None:
        group_rows, topic_rows = self.snapshot()
        tables = {"group_offsets": to_table(group_rows, GROUP_OFFSET_SCHEMA),
                  "topic_offsets": to_table(topic_rows, TOPIC_OFFSET_SCHEMA)}
        faults.retry_conflicts(lambda: self.store.append(tables), what=self.name)
        with self._lock:
            self._status.update(state="running", groups=len({r["group_id"] for r in group_rows}),
                                partitions=len(topic_rows), last_poll_at=_now_us())
            self._status["polls"] += 1


def _state_name(state: Any) -> str:
    name = getattr(state, "name", None) or str(state)
    return name.lower()


def watermarks(admin: Any, tps: Iterable[tuple[str, int]], spec: Any, topic_partition: Any) -> dict[tuple[str, int], int]:
    """One ListOffsets call for many partitions; a partition that fails is left out."""
    req = {topic_partition(t, p): spec for t, p in tps}
    if not req:
        return {}
    out: dict[tuple[str, int], int] = {}
    for tp, fut in admin.list_offsets(req, request_timeout=REQUEST_TIMEOUT).items():
        try:
            out[(tp.topic, tp.partition)] = _result(fut).offset
        except Exception as exc:  # noqa: BLE001 (a topic deleted mid-poll)
            log.debug("watermark %s/%s: %s", tp.topic, tp.partition, exc)
    return out
