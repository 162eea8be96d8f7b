"""Spans that share attribute names still get their own promoted values (the decoder plans per name set)."""

from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collectors.otlp import OtlpReceiver
from collectors.store import Store
from tests.collectors.otlp.conftest import post
from tests.collectors.otlp.requests import request, spans_of


def _value(v: object) -> AnyValue:
    return AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v))


def test_each_span_keeps_its_own_promoted_values(receiver: OtlpReceiver, store: Store) -> None:
    # same names in the same order (one plan), then old and new semconv names in another order
    shapes = [
        {"messaging.system": "kafka", "messaging.operation": "publish", "messaging.kafka.partition": 1,
         "messaging.kafka.message.offset": 10},
        {"messaging.system": "kafka", "messaging.operation": "deliver", "messaging.kafka.partition": 7,
         "messaging.kafka.message.offset": str(2**63)},  # past BIGINT: no offset rather than a refused batch
        {"messaging.kafka.partition": 2, "messaging.destination.partition.id": "5", "messaging.system": "kafka",
         "messaging.operation.type": "Receive", "messaging.kafka.offset": "11"},
        {"db.statement": "  update stock set n = n - 1", "http.method": "get"},
        {"db.statement": "select 1", "db.operation": "merge", "http.request.method": "post", "http.method": "get"},
    ]
    req = request(len(shapes))
    for span, attrs in zip(spans_of(req), shapes, strict=True):
        del span.attributes[:]
        span.attributes.extend(KeyValue(key=k, value=_value(v)) for k, v in attrs.items())
    status, _, _ = post(receiver.http_address, req.SerializeToString())
    assert status == 200
    receiver.stop()

    rows = store.cursor().execute(
        'SELECT name, operation_type, "partition", "offset", db_operation, http_method FROM spans ORDER BY name'
    ).fetchall()
    assert [r[1:] for r in rows] == [
        ("send", 1, 10, None, None),
        ("process", 7, None, None, None),
        ("receive", 5, 11, None, None),
        (None, None, None, "UPDATE", "GET"),
        (None, None, None, "MERGE", "POST"),
    ]
