"""OTLP export requests built by hand, for the cases the SDK never sends."""

from __future__ import annotations

import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def request(n: int = 3, *, service: str = "orders-api") -> ExportTraceServiceRequest:
    """A valid request of ``n`` SERVER spans of one trace."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    trace_id, now = os.urandom(16), time.time_ns()
    for i in range(n):
        span = ss.spans.add(trace_id=trace_id, span_id=os.urandom(8), name=f"GET /items/{i}", kind=Span.SPAN_KIND_SERVER,
                            start_time_unix_nano=now, end_time_unix_nano=now + 1_000_000)
        span.attributes.append(KeyValue(key="http.route", value=AnyValue(string_value="/items/{id}")))
    return req


def spans_of(req: ExportTraceServiceRequest) -> list[Span]:
    return [sp for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]


def with_many_attributes(req: ExportTraceServiceRequest, count: int) -> ExportTraceServiceRequest:
    """Give the first span ``count`` attributes, encoded straight to bytes (fast even for a million)."""
    span = spans_of(req)[0]
    raw = bytearray(span.SerializeToString())
    for i in range(count):
        key = b"a%d" % i
        value = b"\x18" + _varint(i)  # AnyValue.int_value
        kv = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value
        raw += b"\x4a" + _varint(len(kv)) + kv  # Span.attributes, field 9
    span.ParseFromString(bytes(raw))
    return req


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
