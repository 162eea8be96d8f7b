"""The scenario as data: what happens when, before any wire format.

A :class:`Plan` lists traces (trees of :class:`Op`, one op per unit of work in one
service), the records those ops put on topics, the offsets groups commit and who owned
which partition when. Times are µs from the scenario's start, so the same plan encodes to
any start time. The offline encoders (encode_otlp, encode_records) turn it into files; a
live runner can enact the same ops against real services and a real broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Op kinds
HTTP_SERVER, HTTP_CLIENT, DB, PRODUCE, CONSUME, INTERNAL, RECEIVE = (
    "http_server", "http_client", "db", "produce", "consume", "internal", "receive")  # receive: a pull in a handler


@dataclass
class Event:
    """An event's envelope and payload; `envelope` says how it travels (json | cloudevents | avro | bare)."""
    type: str
    envelope: str
    source: str
    occurred_at: int
    event_id: str | None = None
    version: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    subject: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeadLetter:
    """Why a record was copied to a dead-letter topic (Spring DLT or Kafka Connect headers)."""
    family: str  # spring-dlt | connect
    origin: Record
    group: str
    exception_class: str
    exception_message: str
    stacktrace: str
    cause_class: str | None = None
    connector: str | None = None
    stage: str | None = None
    transform_class: str | None = None


@dataclass(eq=False)
class Record:
    """One record on a topic. The offset is given by the broker once every append is known."""
    topic: str
    partition: int
    key: str | None
    timestamp: int  # broker (create) time
    event: Event | None = None
    producer_span: tuple[str, str] | None = None  # (trace id, span id) carried in traceparent
    dead_letter: DeadLetter | None = None
    offset: int = -1
    headers: list[tuple[str, str]] = field(default_factory=list)  # beside the envelope's (a reply-to, say)


@dataclass(eq=False)
class Op:
    """One unit of work in one service instance; the encoders make it one span."""
    kind: str
    service: str
    instance: str
    name: str
    start: int
    end: int
    span_id: str
    children: list[Op] = field(default_factory=list)
    semconv: str = "new"  # "old" writes the older attribute names (docs/architecture.md#telemetry-conventions)
    error: str | None = None
    # http
    method: str | None = None
    route: str | None = None
    path: str | None = None
    status: int | None = None
    peer: str | None = None  # called service (http client) or external system
    # db
    db_system: str | None = None
    db_operation: str | None = None
    table: str | None = None
    statement: str | None = None
    # messaging: produce points at the record it wrote, consume at the record it processed
    record: Record | None = None
    group: str | None = None
    link: tuple[str, str] | None = None  # consume: (trace id, span id) of the producer span
    attempt: int = 1

    def walk(self) -> list[Op]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


@dataclass(eq=False)
class Trace:
    trace_id: str
    root: Op
    parent_span: str | None = None  # a root op whose parent is a span of another op (same trace)


@dataclass(frozen=True)
class Commit:
    group: str
    topic: str
    partition: int
    offset: int  # the next offset the group will read
    at: int


@dataclass(frozen=True)
class Ownership:
    """Which instance of a group owned a partition from `start` until `end` (None: to the end)."""
    group: str
    topic: str
    partition: int
    instance: str
    start: int
    end: int | None


@dataclass
class Plan:
    seed: int
    minutes: int
    duration: int  # µs
    traces: list[Trace] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    ownership: list[Ownership] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)  # topic → partition count
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group → topics
    facts: list[dict[str, Any]] = field(default_factory=list)  # what happened, for expected_findings

    # -- what a live runner enacts ---------------------------------------------------------
    def requests(self) -> list[Trace]:
        """User-facing requests in start order: the root SERVER op of each, with its calls below."""
        return sorted((t for t in self.traces if t.root.kind == HTTP_SERVER), key=lambda t: t.root.start)

    def consumer_faults(self) -> list[dict[str, Any]]:
        """Restarts, rebalances, crashes and hangs of consumer instances, in time order."""
        kinds = {"restart", "rebalance", "crash", "hang"}
        return sorted((f for f in self.facts if f["kind"] in kinds), key=lambda f: f["at"])
