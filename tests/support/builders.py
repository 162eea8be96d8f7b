"""Hand-built traces, records and offset polls for tests, written into a real temporary store.

Rows go through the same normalize functions the collectors use (span_row, record_row), then
Store.append and collectors.derive, so the analyses read exactly what ingest writes.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

from collectors.derive import derive_all
from collectors.kafka.topic_settings import SCHEMA as TOPIC_SETTINGS_SCHEMA
from collectors.model import (
    FLAG_HAS_IS_REMOTE,
    FLAG_IS_REMOTE,
    GROUP_OFFSET_SCHEMA,
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_INTERNAL,
    KIND_PRODUCER,
    KIND_SERVER,
    KIND_UNSPECIFIED,
    RECORD_SCHEMA,
    SPAN_SCHEMA,
    TOPIC_OFFSET_SCHEMA,
    to_table,
)
from collectors.normalize.records import record_row
from collectors.normalize.spans import span_row

T0 = datetime(2026, 3, 2, 12, 0, 0)
EPOCH = datetime(1970, 1, 1)
KINDS = {"server": KIND_SERVER, "client": KIND_CLIENT, "producer": KIND_PRODUCER, "consumer": KIND_CONSUMER,
         "internal": KIND_INTERNAL, None: KIND_UNSPECIFIED}
REMOTE = FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE


def us(at: float) -> int:
    """Seconds after T0 → µs since the epoch."""
    return int(((T0 - EPOCH) + timedelta(seconds=at)) / timedelta(microseconds=1))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Data:
    """Collects rows; `write()` appends them in one transaction and derives every trace."""

    T0 = T0
    REMOTE = REMOTE
    default_value: bytes | None = b"{}"  # a record's value when a test gives none: an empty JSON object

    @staticmethod
    def at(seconds: float) -> datetime:
        return at(seconds)

    def __init__(self, store: Any) -> None:
        self.store = store
        self.spans: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.offsets: list[dict[str, Any]] = []
        self.topic_offsets: list[dict[str, Any]] = []
        self.topic_configs: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def trace_id(self) -> str:
        return f"{next(self._ids):032x}"

    def span(self, trace: str, service: str, kind: str | None, name: str, *, at: float, dur: float = 0.01,
             parent: str | None = None, attrs: dict[str, Any] | None = None, instance: str | None = None,
             flags: int = 0, error: bool = False,
             links: list[tuple[str, str] | tuple[str, str, dict[str, Any]]] = (),
             events: list[tuple[str, float, dict[str, Any]]] = ()) -> str:
        """One span; ``events`` are (name, seconds after T0, attributes)."""
        span_id = f"{next(self._ids):016x}"
        resource = {"service.name": service}
        if instance:
            resource["service.instance.id"] = instance
        self.spans.append(span_row(
            resource=resource, scope="test", trace_id=trace, span_id=span_id, parent_span_id=parent,
            name=name, kind=KINDS[kind], flags=flags, start_ns=us(at) * 1000,
            end_ns=(us(at) + int(dur * 1e6)) * 1000, status_code=2 if error else 0,
            status_message="boom" if error else None, attributes=attrs or {},
            events=[{"name": n, "time_us": us(t), "attributes": a} for n, t, a in events],
            links=[{"trace_id": ln[0], "span_id": ln[1], "attributes": ln[2] if len(ln) > 2 else {}}
                   for ln in links],
            source="test",
        ))
        return span_id

    def call(self, trace: str, caller: str, callee: str, route: str, *, at: float, parent: str | None,
             dur: float = 0.01, method: str = "GET") -> str:
        """A CLIENT span in the caller and the callee's SERVER span under it; returns the SERVER span."""
        client = self.span(trace, caller, "client", f"{method} {route}", at=at, dur=dur, parent=parent,
                           attrs={"http.request.method": method, "peer.service": callee})
        return self.span(trace, callee, "server", f"{method} {route}", at=at, dur=dur, parent=client,
                         flags=REMOTE, attrs={"http.request.method": method, "http.route": route})

    def produce(self, trace: str, service: str, topic: str, *, at: float, parent: str | None = None,
                instance: str | None = None, partition: int | None = None, offset: int | None = None) -> str:
        attrs: dict[str, Any] = {"messaging.system": "kafka", "messaging.operation.type": "send",
                                 "messaging.destination.name": topic}
        if partition is not None:
            attrs["messaging.destination.partition.id"] = str(partition)
        if offset is not None:
            attrs["messaging.kafka.offset"] = offset
        return self.span(trace, service, "producer", f"send {topic}", at=at, parent=parent, instance=instance,
                         attrs=attrs)

    def process(self, trace: str, service: str, group: str, topic: str, partition: int | None = None,
                offset: int | None = None, *, at: float, parent: str | None = None, dur: float = 0.01,
                instance: str | None = None, error: bool = False, attrs: dict[str, Any] | None = None,
                links: list[Any] = (), flags: int = 0) -> str:
        """A CONSUMER process span of one record, with the new semconv names."""
        a: dict[str, Any] = {"messaging.system": "kafka", "messaging.operation.type": "process",
                             "messaging.destination.name": topic, "messaging.consumer.group.name": group}
        if partition is not None:
            a["messaging.destination.partition.id"] = str(partition)
        if offset is not None:
            a["messaging.kafka.offset"] = offset
        a.update(attrs or {})
        return self.span(trace, service, "consumer", f"process {topic}", at=at, dur=dur, parent=parent,
                         instance=instance, error=error, attrs=a, links=links, flags=flags)

    def record(self, topic: str, partition: int, offset: int, *, at: float, key: str | None = "k",
               value: Any = ..., headers: list[tuple[str, Any]] = (), trace: tuple[str, str] | None = None,
               tapped: float | None = None) -> None:
        """A record stamped ``at`` (seconds from T0), read by the tap at ``tapped`` (``at`` by default)."""
        hdrs: list[tuple[str, bytes | None]] = []
        if trace:
            hdrs.append(("traceparent", f"00-{trace[0]}-{trace[1]}-01".encode()))
        for name, v in headers:
            hdrs.append((name, v if isinstance(v, bytes) or v is None else str(v).encode()))
        if value is ...:
            value = self.default_value
        raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
        self.records.append(record_row(
            cluster="test", topic=topic, partition=partition, offset=offset,
            key=None if key is None else key.encode(), value=raw, headers=hdrs,
            timestamp_ms=us(at) // 1000, timestamp_type=1, tapped_at_us=us(at if tapped is None else tapped), source="test",
        ))

    def stamp(self, when: datetime) -> None:
        """The last record's producer timestamp set to ``when`` (a wrong clock), its tap time left as it was."""
        self.records[-1]["timestamp"] = us(0) + int((when - self.at(0)) / timedelta(microseconds=1))

    def poll(self, group: str, topic: str, partition: int, committed: int | None, *, at: float,
             high_watermark: int | None = None, members: int = 1, state: str = "Stable") -> None:
        self.offsets.append({"cluster": "test", "group_id": group, "topic": topic, "partition": partition,
                             "committed_offset": committed,
                             "high_watermark": committed if high_watermark is None else high_watermark,
                             "state": state, "members": members, "client_id": None, "polled_at": us(at)})

    def end_offset(self, topic: str, partition: int, high_watermark: int, *, at: float) -> None:
        self.topic_offsets.append({"cluster": "test", "topic": topic, "partition": partition,
                                   "low_watermark": 0, "high_watermark": high_watermark, "observed_at": us(at)})

    def settings(self, topic: str, policy: str = "delete", retention_ms: int | None = None, *,
                 cluster: str = "test") -> None:
        """The topic's cleanup.policy and retention.ms as the tap or the lag poller would read them from the cluster."""
        self.topic_configs.append({"cluster": cluster, "topic": topic, "cleanup_policy": policy,
                                   "retention_ms": retention_ms, "observed_at": T0})

    def stopped_groups(self, groups: int) -> None:
        """``groups`` consumer groups that stopped committing on fleet.pings (dispatch-00, …), and three
        dead letters of it: a cluster whose many stale groups would push every other error off a page."""
        for g in range(groups):
            for i in range(12):
                self.poll(f"dispatch-{g:02d}", "fleet.pings", 0, 100, high_watermark=200 + 100 * i, at=i * 10)
        for n in range(3):
            self.record("fleet.pings.DLT", 0, n, at=n, headers=[("kafka_dlt-original-topic", "fleet.pings")])

    def write(self, *, derived: bool = True) -> None:
        self.store.append({
            "spans": to_table(self.spans, SPAN_SCHEMA),
            "records": to_table(self.records, RECORD_SCHEMA),
            "group_offsets": to_table(self.offsets, GROUP_OFFSET_SCHEMA),
            "topic_offsets": to_table(self.topic_offsets, TOPIC_OFFSET_SCHEMA),
            "topic_configs": to_table(self.topic_configs, TOPIC_SETTINGS_SCHEMA),
        })
        self.spans, self.records, self.offsets, self.topic_offsets, self.topic_configs = [], [], [], [], []
        if derived:
            derive_all(self.store)
