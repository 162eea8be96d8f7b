"""One lag snapshot from the cluster: consumer groups, their committed offsets, topic watermarks.

Per snapshot it lists the groups (any state, any protocol) and keeps those the group patterns
want (KafkaSettings.wants_group), describes their members, reads each group's committed
offsets (one request per group, as the Admin API requires) on the topics the topic patterns
want (KafkaSettings.lag_wants: a group with none is left out), and the low and high
watermarks of every partition those groups or the topic patterns touch. It returns
`group_offsets` rows (committed offset NULL where a member holds a partition it never
committed), `topic_offsets` rows, and the settings (cleanup.policy, retention.ms) of those
topics it was answered: each topic is asked again every ASK_EVERY seconds, the request sent
before the watermarks' and its answer taken when it has come, at that snapshot or a later one,
so a slow answer never holds a snapshot up (collectors/kafka/describe_configs.py). It knows
nothing of the store: the lag poller (collectors/kafka/lag.py) runs it in a child process
(collectors/kafka/lag_process.py).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from collectors.kafka.config import KafkaSettings
from collectors.kafka.describe_configs import ASK_EVERY, Settings, answers, ask
from collectors.kafka.readable_end import PROBE_SPAN, ReadableEnd
from collectors.logrepeat import rate_limit

log = logging.getLogger(__name__)
rate_limit(log)  # a broker away repeats the same error on every poll

REQUEST_TIMEOUT = 10.0
# committed-offset requests kept in flight: enough to hide the round trips of a cluster with
# thousands of groups, few enough not to flood a group coordinator
OFFSETS_IN_FLIGHT = 32

# (group_offsets rows, topic_offsets rows, each answered topic's settings)
Rows = tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Settings]]


def now_us() -> int:
    return time.time_ns() // 1000


def _result(fut: Any, timeout: float = REQUEST_TIMEOUT + 5) -> Any:
    """A request's answer; librdkafka's own timeout (REQUEST_TIMEOUT) comes first, with its reason."""
    try:
        return fut.result(timeout=timeout)
    except TimeoutError:
        raise TimeoutError(f"the cluster gave no answer within {timeout:g} s") from None


def _of_the_group(exc: Any) -> bool:
    """Whether a failed per-group request is that group's answer (deleted between list and describe,
    not authorised), to skip, rather than the cluster not answering (a local error: timed out,
    transport, every broker down), which fails the poll at once: skipped group by group, a broker
    gone mid-poll cost a request timeout per batch of groups before the poll said so."""
    err = exc.args[0] if exc.args else None
    return hasattr(err, "code") and err.code() >= 0


class Snapshotter:
    """Takes snapshots of one cluster with an AdminClient kept between them (dropped by reset())."""

    def __init__(self, settings: KafkaSettings, offsets_in_flight: int = OFFSETS_IN_FLIGHT) -> None:
        self.settings = settings
        self.cluster = settings.cluster_name
        self.name = f"kafka-lag[{self.cluster}]"
        self.offsets_in_flight = offsets_in_flight  # (1: one group after the other, as `bench lag` compares)
        self._admin: Any = None
        self._readable: ReadableEnd | None = None
        self.ask_every = ASK_EVERY  # seconds between asks of a topic's settings
        self._settings_asked: dict[str, float] = {}  # topic: when its settings were last asked (monotonic)
        self._settings_unanswered: dict[Any, Any] = {}  # the DescribeConfigs futures not answered yet

    def reset(self) -> None:
        """A fresh client for the next snapshot (after a failed one)."""
        self._admin = None
        for resource in self._settings_unanswered:  # asked of the client dropped: asked again
            self._settings_asked.pop(resource.name, None)
        self._settings_unanswered = {}

    def serve_logs(self) -> None:
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

    def snapshot(self) -> Rows:
        """One snapshot: (group_offsets rows, topic_offsets rows, topic settings answered)."""
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
        self._ask_settings(admin, {t for t, _ in wanted})  # answered while the watermarks are asked
        high = watermarks(admin, wanted, OffsetSpec.latest(), TopicPartition)
        low = watermarks(admin, wanted, OffsetSpec.earliest(), TopicPartition)
        settings = answers(self._settings_unanswered, wait=False)

        caught = self._caught_up(committed, high)
        now = now_us()
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
        return group_rows, topic_rows, settings

    def _ask_settings(self, admin: Any, topics: set[str]) -> None:
        """Asks the settings of the topics not asked for ``ask_every`` seconds, unless an ask is unanswered."""
        if self._settings_unanswered:
            return
        now, asked = time.monotonic(), self._settings_asked
        due = sorted(t for t in topics if t not in asked or now - asked[t] >= self.ask_every)
        if due:
            self._settings_asked.update(dict.fromkeys(due, now))
            self._settings_unanswered = ask(admin, due)

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
