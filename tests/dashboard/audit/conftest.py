"""Small hand-built traces, records and offset polls, written into a real temporary store.

Rows go through the same normalize functions the collectors use (span_row, record_row),
then Store.append and collectors.derive, so the analyses read exactly what ingest writes.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from collectors.derive import derive_all
from collectors.model import (
    GROUP_OFFSET_SCHEMA,
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_INTERNAL,
    KIND_PRODUCER,
    KIND_SERVER,
    RECORD_SCHEMA,
    SPAN_SCHEMA,
    to_table,
)
from collectors.normalize.records import record_row
from collectors.normalize.spans import span_row
from dashboard.analyses.window import Window

T0 = datetime(2026, 3, 2, 12, 0, 0)
EPOCH = datetime(1970, 1, 1)
KINDS = {"server": KIND_SERVER, "client": KIND_CLIENT, "producer": KIND_PRODUCER,
         "consumer": KIND_CONSUMER, "internal": KIND_INTERNAL}


def us(at: float) -> int:
    """Seconds after T0 → µs since the epoch."""
    return int(((T0 - EPOCH) + timedelta(seconds=at)) / timedelta(microseconds=1))


class Data:
    """Collects rows; `write()` appends them to the store in one transaction."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.spans: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.offsets: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def trace_id(self) -> str:
        return f"{next(self._ids):032x}"

    def span(self, trace: str, service: str, kind: str, name: str, *, at: float, dur: float = 0.01,
             parent: str | None = None, attrs: dict[str, Any] | None = None, instance: str | None = None,
             error: bool = False, links: list[tuple[str, str]] = ()) -> str:
        span_id = f"{next(self._ids):016x}"
        resource = {"service.name": service}
        if instance:
            resource["service.instance.id"] = instance
        self.spans.append(span_row(
            resource=resource, scope="test", trace_id=trace, span_id=span_id, parent_span_id=parent,
            name=name, kind=KINDS[kind], flags=0, start_ns=us(at) * 1000, end_ns=(us(at) + int(dur * 1e6)) * 1000,
            status_code=2 if error else 0, status_message="boom" if error else None, attributes=attrs or {},
            events=[], links=[{"trace_id": t, "span_id": s} for t, s in links], source="test",
        ))
        return span_id

    def process(self, trace: str, service: str, group: str, topic: str, partition: int, offset: int, *,
                at: float, parent: str | None = None, instance: str | None = None, error: bool = False,
                attrs: dict[str, Any] | None = None) -> str:
        """A CONSUMER process span of one record, with the new semconv names."""
        a = {"messaging.system": "kafka", "messaging.operation.type": "process",
             "messaging.destination.name": topic, "messaging.consumer.group.name": group,
             "messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset}
        a.update(attrs or {})
        return self.span(trace, service, "consumer", f"process {topic}", at=at, parent=parent,
                         instance=instance, error=error, attrs=a)

    def produce(self, trace: str, service: str, topic: str, *, at: float, parent: str | None = None,
                instance: str | None = None) -> str:
        return self.span(trace, service, "producer", f"send {topic}", at=at, parent=parent, instance=instance,
                         attrs={"messaging.system": "kafka", "messaging.operation.type": "send",
                                "messaging.destination.name": topic})

    def record(self, topic: str, partition: int, offset: int, *, at: float, key: str | None = "k",
               value: Any = None, headers: list[tuple[str, Any]] = (), trace: tuple[str, str] | None = None) -> None:
        hdrs: list[tuple[str, bytes | None]] = []
        if trace:
            hdrs.append(("traceparent", f"00-{trace[0]}-{trace[1]}-01".encode()))
        for name, v in headers:
            hdrs.append((name, v if isinstance(v, bytes) or v is None else str(v).encode()))
        raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
        self.records.append(record_row(
            cluster="test", topic=topic, partition=partition, offset=offset,
            key=None if key is None else key.encode(), value=raw, headers=hdrs,
            timestamp_ms=us(at) // 1000, timestamp_type=1, tapped_at_us=us(at), source="test",
        ))

    def poll(self, group: str, topic: str, partition: int, committed: int, *, at: float,
             high_watermark: int | None = None) -> None:
        self.offsets.append({"cluster": "test", "group_id": group, "topic": topic, "partition": partition,
                             "committed_offset": committed, "high_watermark": high_watermark or committed,
                             "state": "Stable", "members": 1, "client_id": None, "polled_at": us(at)})

    def write(self) -> None:
        self.store.append({
            "spans": to_table(self.spans, SPAN_SCHEMA),
            "records": to_table(self.records, RECORD_SCHEMA),
            "group_offsets": to_table(self.offsets, GROUP_OFFSET_SCHEMA),
        })
        self.spans, self.records, self.offsets = [], [], []
        derive_all(self.store)


@pytest.fixture
def data(store) -> Data:
    return Data(store)


@pytest.fixture
def window() -> Window:
    """Two hours around T0, wide enough for every test's rows."""
    return Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
