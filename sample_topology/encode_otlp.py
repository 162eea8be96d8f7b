"""Plan → OTLP JSON lines (one TracesData object per line, as the Collector's file exporter writes).

Pure: the same plan and start time give the same bytes. Attributes follow the current
semantic conventions, or the older names for ops marked `semconv="old"` (docs/architecture.md#telemetry-conventions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sample_topology.plan import CONSUME, DB, HTTP_CLIENT, HTTP_SERVER, PRODUCE, RECEIVE, Op, Plan

SPANS_PER_LINE = 300
KIND = {HTTP_SERVER: 2, HTTP_CLIENT: 3, DB: 3, PRODUCE: 4, CONSUME: 5, RECEIVE: 3}  # receive: CLIENT (semconv 1.27+)
FLAG_LOCAL, FLAG_REMOTE = 0x101, 0x301  # sampled; remote-parent bit known (0x100) and set (0x200)
JAVA = frozenset({"email-service"})
PARENTING = frozenset({"fulfillment-service", "reporting-service"})
VERSIONS = {"tax-api": "2.0.0", "email-service": "4.3.1"}


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    return {"stringValue": str(v)}


def _attrs(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in d.items() if v is not None]


def _url(op: Op) -> str:
    if op.peer in ("smtp-relay", "fx-provider"):
        return f"https://api.{op.peer}.example{op.path}"
    return f"http://{op.peer}:8080{op.path}"


def attributes(op: Op) -> dict[str, Any]:
    """The span attributes of one op."""
    old = op.semconv == "old"
    if op.kind == HTTP_SERVER:
        if old:
            return {"http.method": op.method, "http.route": op.route, "http.target": op.path, "http.scheme": "http",
                    "http.status_code": op.status, "net.host.name": op.service}
        return {"http.request.method": op.method, "http.route": op.route, "url.path": op.path, "url.scheme": "http",
                "http.response.status_code": op.status, "server.address": op.service, "server.port": 8080}
    if op.kind == HTTP_CLIENT:
        if old:
            return {"http.method": op.method, "http.url": _url(op), "net.peer.name": op.peer,
                    "http.status_code": op.status, "peer.service": op.peer}
        return {"http.request.method": op.method, "url.full": _url(op), "server.address": op.peer,
                "server.port": 8080 if "." not in _url(op).split("/")[2] else 443,
                "http.response.status_code": op.status, "peer.service": op.peer}
    if op.kind == DB:
        if old:
            return {"db.system": op.db_system, "db.name": "shop", "db.statement": op.statement,
                    "db.operation": op.db_operation, "db.sql.table": op.table}
        a = {"db.system.name": op.db_system, "db.namespace": "shop", "db.collection.name": op.table,
             "db.query.text": op.statement}
        if op.db_system != "clickhouse":  # the ClickHouse client reports the query text only
            a["db.operation.name"] = op.db_operation
        return a
    rec = op.record
    assert rec is not None
    event_id = rec.event.event_id if rec.event else None
    if op.kind == PRODUCE:
        if old:
            return {"messaging.system": "kafka", "messaging.operation": "publish", "messaging.destination": rec.topic,
                    "messaging.destination_kind": "topic", "messaging.kafka.partition": rec.partition,
                    "messaging.kafka.message.offset": rec.offset, "messaging.message.id": event_id,
                    "messaging.kafka.message.key": rec.key}
        return {"messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
                "messaging.destination.name": rec.topic, "messaging.destination.partition.id": str(rec.partition),
                "messaging.kafka.offset": rec.offset, "messaging.message.id": event_id,
                "messaging.kafka.message.key": rec.key}
    if op.kind == RECEIVE and old:
        return {"messaging.system": "kafka", "messaging.operation": "receive", "messaging.destination": rec.topic,
                "messaging.kafka.consumer_group": op.group, "messaging.kafka.partition": rec.partition,
                "messaging.kafka.message.offset": rec.offset, "messaging.message.id": event_id,
                "messaging.kafka.message.key": rec.key}
    if op.kind == RECEIVE:
        return {"messaging.system": "kafka", "messaging.operation.type": "receive", "messaging.operation.name": "poll",
                "messaging.destination.name": rec.topic, "messaging.consumer.group.name": op.group,
                "messaging.destination.partition.id": str(rec.partition), "messaging.kafka.offset": rec.offset,
                "messaging.message.id": event_id, "messaging.kafka.message.key": rec.key}
    if old:
        return {"messaging.system": "kafka", "messaging.operation": "process", "messaging.destination": rec.topic,
                "messaging.kafka.consumer_group": op.group, "messaging.kafka.partition": rec.partition,
                "messaging.kafka.message.offset": rec.offset, "messaging.message.id": event_id,
                "messaging.kafka.message.key": rec.key}
    return {"messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
            "messaging.destination.name": rec.topic, "messaging.consumer.group.name": op.group,
            "messaging.destination.partition.id": str(rec.partition), "messaging.kafka.offset": rec.offset,
            "messaging.message.id": event_id, "messaging.kafka.message.key": rec.key}


def _name(op: Op) -> str:
    if op.semconv == "old" and op.record is not None:
        return f"{op.record.topic} {'publish' if op.kind == PRODUCE else 'receive' if op.kind == RECEIVE else 'process'}"
    if op.kind == HTTP_CLIENT and op.semconv == "old":
        return f"HTTP {op.method}"
    return op.name


def scope(op: Op) -> str:
    java = op.service in JAVA
    if op.kind == HTTP_SERVER:
        return "io.opentelemetry.spring-webmvc-6.0" if java else "opentelemetry.instrumentation.flask"
    if op.kind == HTTP_CLIENT:
        return "io.opentelemetry.java-http-client" if java else "opentelemetry.instrumentation.requests"
    if op.kind == DB:
        if op.db_system == "clickhouse":
            return "opentelemetry.instrumentation.clickhouse-connect"
        return "io.opentelemetry.jdbc" if java else "opentelemetry.instrumentation.psycopg"
    if java:
        return "io.opentelemetry.spring-kafka-2.7"
    if op.service in PARENTING:
        return "opentelemetry.instrumentation.kafka"  # kafka-python: the process span's parent is the producer
    return "opentelemetry.instrumentation.confluent_kafka"


def span_json(op: Op, trace_id: str, parent: str | None, remote: bool, start_ns: int) -> dict[str, Any]:
    s: dict[str, Any] = {"traceId": trace_id, "spanId": op.span_id}
    if parent:
        s["parentSpanId"] = parent
    s.update(flags=FLAG_REMOTE if remote else FLAG_LOCAL, name=_name(op), kind=KIND[op.kind],
             startTimeUnixNano=str(start_ns + op.start * 1000), endTimeUnixNano=str(start_ns + op.end * 1000),
             attributes=_attrs(attributes(op)))
    if op.error:
        exc_type, _, msg = op.error.partition(": ")
        s["events"] = [{"timeUnixNano": str(start_ns + op.end * 1000 - 1000), "name": "exception",
                        "attributes": _attrs({"exception.type": exc_type, "exception.message": msg})}]
        s["status"] = {"code": 2, "message": op.error}
    else:
        s["status"] = {}
    if op.link is not None:
        s["links"] = [{"traceId": op.link[0], "spanId": op.link[1], "attributes": []}]
    return s


def resource(service: str, instance: str) -> dict[str, Any]:
    return {"attributes": _attrs({
        "service.name": service, "service.instance.id": instance, "service.version": VERSIONS.get(service, "1.4.2"),
        "deployment.environment.name": "demo", "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "java" if service in JAVA else "python"})}


def lines(plan: Plan, start_us: int) -> Iterator[str]:
    """OTLP JSON lines: per service instance, spans in end-time order, SPANS_PER_LINE a line."""
    start_ns = start_us * 1000
    # (end, span id, op, trace id, parent, remote parent): encoded a line at a time to bound memory
    per_resource: dict[tuple[str, str], list[tuple[int, str, Op, str, str | None, bool]]] = {}
    for trace in plan.traces:
        stack: list[tuple[Op, str | None, bool]] = [(trace.root, trace.parent_span, trace.parent_span is not None)]
        while stack:
            op, parent, remote = stack.pop()
            per_resource.setdefault((op.service, op.instance), []).append(
                (op.end, op.span_id, op, trace.trace_id, parent, remote))
            for c in op.children:
                stack.append((c, op.span_id, c.service != op.service))
    for (service, instance), spans in sorted(per_resource.items()):
        spans.sort(key=lambda x: (x[0], x[1]))
        res = resource(service, instance)
        for i in range(0, len(spans), SPANS_PER_LINE):
            by_scope: dict[str, list[dict[str, Any]]] = {}
            for _, _, op, trace_id, parent, remote in spans[i:i + SPANS_PER_LINE]:
                by_scope.setdefault(scope(op), []).append(span_json(op, trace_id, parent, remote, start_ns))
            doc = {"resourceSpans": [{"resource": res, "scopeSpans": [
                {"scope": {"name": sc}, "spans": ss} for sc, ss in sorted(by_scope.items())]}]}
            yield json.dumps(doc, separators=(",", ":"))
