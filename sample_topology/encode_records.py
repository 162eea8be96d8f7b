"""Plan → Kafka record lines and offset snapshot lines (the formats `seamwatch import` reads).

Pure: the same plan and start time give the same bytes. Record lines carry the value as
the exact text the producer wrote, headers as [name, value] pairs, binary header values
as {"b64": ...}; offset lines are what a lag poller sees every SNAPSHOT_EVERY.
"""

from __future__ import annotations

import base64
import bisect
import json
import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sample_topology.ops import SEC
from sample_topology.plan import Event, Plan, Record

SNAPSHOT_EVERY = 15 * SEC
Header = tuple[str, Any]


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _b64(raw: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(raw).decode("ascii")}


def traceparent(span: tuple[str, str]) -> str:
    return f"00-{span[0]}-{span[1]}-01"


# Avro events travel in the Confluent wire format under this schema id; the simulator writes
# the schema beside the files (schemas/<id>.json, as a registry answers), where
# `seamwatch import --schemas` and the demo read it. No version field: the registry's counts.
AVRO_SCHEMA_ID = 1001
AVRO_SCHEMAS: dict[str, dict[str, Any]] = {"ProfileUpdated": {
    "type": "record", "name": "ProfileUpdated", "namespace": "shop.accounts",
    "fields": [{"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
               {"name": "occurredAt", "type": "string"}, {"name": "source", "type": "string"},
               {"name": "causationId", "type": ["null", "string"], "default": None},
               {"name": "correlationId", "type": ["null", "string"], "default": None},
               {"name": "data", "type": {"type": "record", "name": "ProfileChange", "fields": [
                   {"name": "accountId", "type": "string"},
                   {"name": "changed", "type": {"type": "array", "items": "string"}}]}}]}}


def schema_files() -> dict[str, str]:
    """File name → text of the schemas the Avro events are written with."""
    return {f"{AVRO_SCHEMA_ID}.json": _dumps({"schema": _dumps(AVRO_SCHEMAS["ProfileUpdated"]),
                                               "schemaType": "AVRO", "version": 1})}


def _avro(doc: dict[str, Any], event_type: str) -> bytes:
    import io

    import fastavro

    buf = io.BytesIO()
    buf.write(b"\x00" + struct.pack(">I", AVRO_SCHEMA_ID))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(AVRO_SCHEMAS[event_type]), doc)
    return buf.getvalue()


def event_value(ev: Event, start_us: int) -> tuple[str | bytes, list[Header]]:
    """The value (text, or bytes for Avro) and envelope headers of an event, in its envelope style."""
    if ev.envelope == "cloudevents":
        headers: list[Header] = [
            ("ce_specversion", "1.0"), ("ce_id", ev.event_id), ("ce_source", ev.source), ("ce_type", ev.type),
            ("ce_time", iso(start_us + ev.occurred_at)), ("ce_subject", ev.subject),
            ("ce_dataschema", f"https://schemas.shop.example/{ev.type}/{ev.version}"),
            ("ce_dataversion", ev.version), ("ce_causationid", ev.causation_id),
            ("ce_correlationid", ev.correlation_id), ("content-type", "application/json")]
        return _dumps(ev.data), [(k, v) for k, v in headers if v is not None]
    if ev.envelope == "avro":
        return _avro({"eventId": ev.event_id, "eventType": ev.type, "occurredAt": iso(start_us + ev.occurred_at),
                      "source": ev.source, "causationId": ev.causation_id, "correlationId": ev.correlation_id,
                      "data": ev.data}, ev.type), []
    if ev.envelope == "json":
        doc = {"eventId": ev.event_id, "eventType": ev.type, "version": ev.version,
               "occurredAt": iso(start_us + ev.occurred_at), "source": ev.source, "causationId": ev.causation_id,
               "correlationId": ev.correlation_id, "data": ev.data}
        return _dumps(doc), [("content-type", "application/json")]
    return _dumps({"eventType": ev.type, **ev.data}), [("content-type", "application/json")]


def _dead_letter_headers(rec: Record, start_us: int) -> list[Header]:
    dl = rec.dead_letter
    assert dl is not None
    o = dl.origin
    if dl.family == "spring-dlt":
        return [
            ("kafka_dlt-original-topic", o.topic),
            ("kafka_dlt-original-partition", _b64(struct.pack(">i", o.partition))),
            ("kafka_dlt-original-offset", _b64(struct.pack(">q", o.offset))),
            ("kafka_dlt-original-timestamp", _b64(struct.pack(">q", (start_us + o.timestamp) // 1000))),
            ("kafka_dlt-original-timestamp-type", "CreateTime"),
            ("kafka_dlt-original-consumer-group", dl.group),
            ("kafka_dlt-exception-fqcn", dl.exception_class),
            ("kafka_dlt-exception-cause-fqcn", dl.cause_class),
            ("kafka_dlt-exception-message", dl.exception_message),
            ("kafka_dlt-exception-stacktrace", dl.stacktrace),
        ]
    p = "__connect.errors."
    return [
        (p + "topic", o.topic), (p + "partition", str(o.partition)), (p + "offset", str(o.offset)),
        (p + "connector.name", dl.connector), (p + "task.id", "0"), (p + "stage", dl.stage),
        (p + "class.name", dl.transform_class), (p + "exception.class.name", dl.exception_class),
        (p + "exception.message", dl.exception_message), (p + "exception.stacktrace", dl.stacktrace),
    ]


def record_line(rec: Record, start_us: int) -> dict[str, Any]:
    headers: list[Header] = []
    if rec.producer_span is not None:
        headers.append(("traceparent", traceparent(rec.producer_span)))
    value = None
    if rec.event is not None:
        value, env = event_value(rec.event, start_us)
        headers.extend(env)
    if rec.dead_letter is not None:
        headers.extend((k, v) for k, v in _dead_letter_headers(rec, start_us) if v is not None)
    headers.extend(rec.headers)
    line = {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset,
            "timestamp": (start_us + rec.timestamp) // 1000, "timestamp_type": "create", "key": rec.key,
            "headers": [[k, v] for k, v in headers], "value": value}
    if isinstance(value, bytes):  # a binary value travels as value_b64
        line["value_b64"] = base64.b64encode(line.pop("value")).decode("ascii")
    return line


def record_lines(plan: Plan, start_us: int) -> Iterator[str]:
    for rec in sorted(plan.records, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset)):
        yield _dumps(record_line(rec, start_us))


def snapshot_times(plan: Plan) -> list[int]:
    return list(range(SNAPSHOT_EVERY, plan.duration + 1, SNAPSHOT_EVERY))


def high_watermarks(plan: Plan) -> dict[tuple[str, int], list[int]]:
    """Per partition, the sorted append times: the high watermark at t is how many are ≤ t."""
    out: dict[tuple[str, int], list[int]] = {
        (t, p): [] for t, n in plan.partitions.items() for p in range(n)}
    for r in plan.records:
        out[(r.topic, r.partition)].append(r.timestamp)
    for v in out.values():
        v.sort()
    return out


def group_snapshots(plan: Plan) -> Iterator[dict[str, Any]]:
    """Committed offset and high watermark of every group/partition at every snapshot time (µs from start)."""
    hw = high_watermarks(plan)
    commits: dict[tuple[str, str, int], tuple[list[int], list[int]]] = {}
    for c in sorted(plan.commits, key=lambda c: c.at):
        ats, offs = commits.setdefault((c.group, c.topic, c.partition), ([], []))
        ats.append(c.at)
        offs.append(max(c.offset, offs[-1]) if offs else c.offset)
    owners: dict[tuple[str, str, int], list[Any]] = {}
    for o in plan.ownership:
        owners.setdefault((o.group, o.topic, o.partition), []).append(o)
    for t in snapshot_times(plan):
        for group, topics in sorted(plan.groups.items()):
            tps = [(tp, p) for tp in topics for p in range(plan.partitions[tp])]
            owner = {}
            for topic, p in tps:
                live = [o for o in owners.get((group, topic, p), []) if o.start <= t and (o.end is None or t < o.end)]
                owner[(topic, p)] = live[0].instance if live else None
            members = len({i for i in owner.values() if i})
            state = "Empty" if not members else "Stable" if all(owner.values()) else "PreparingRebalance"
            for topic, p in tps:
                ats, offs = commits.get((group, topic, p), ([], []))
                i = bisect.bisect_right(ats, t)
                yield {"at": t, "group_id": group, "topic": topic, "partition": p,
                       "committed_offset": offs[i - 1] if i else 0,
                       "high_watermark": bisect.bisect_right(hw[(topic, p)], t),
                       "state": state, "members": members, "client_id": owner[(topic, p)]}


def offset_lines(plan: Plan, start_us: int) -> Iterator[str]:
    """Group snapshots then topic end offsets, one line each, in time order."""
    hw = high_watermarks(plan)
    snaps: dict[int, list[dict[str, Any]]] = {}
    for s in group_snapshots(plan):
        snaps.setdefault(s["at"], []).append(s)
    for t in snapshot_times(plan):
        for s in snaps.get(t, []):
            line = {k: v for k, v in s.items() if k != "at"}
            line["polled_at"] = iso(start_us + t)
            yield _dumps(line)
        for (topic, p), times in sorted(hw.items()):
            yield _dumps({"topic": topic, "partition": p, "low_watermark": 0,
                          "high_watermark": bisect.bisect_right(times, t), "observed_at": iso(start_us + t)})
