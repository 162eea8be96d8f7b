"""Protobuf and JSON carry the same spans to the same stored rows."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collectors.otlp import OtlpReceiver
from collectors.store import Store
from tests.collectors.otlp.conftest import FAST, post
from tests.collectors.otlp.scenario import emit_shop_traces

_ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def _otlp_json(value: Any) -> Any:
    """protobuf's JSON mapping → OTLP/JSON: ids as hex, not base64 (int64 as strings, enums as ints stay)."""
    if isinstance(value, dict):
        return {k: base64.b64decode(v).hex() if k in _ID_FIELDS else _otlp_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_otlp_json(v) for v in value]
    return value


def _rich_request():
    exporters: list[InMemorySpanExporter] = []

    def make() -> InMemorySpanExporter:
        exporters.append(InMemorySpanExporter())
        return exporters[-1]

    emit_shop_traces(make)
    req = encode_spans([s for e in exporters for s in e.get_finished_spans()])
    # value types the Python SDK cannot make but other SDKs send
    span = req.resource_spans[0].scope_spans[0].spans[0]
    nested = AnyValue()
    nested.kvlist_value.values.extend([KeyValue(key="tier", value=AnyValue(string_value="gold")),
                                       KeyValue(key="weights", value=AnyValue(double_value=0.25))])
    arr = AnyValue()
    arr.array_value.values.extend([AnyValue(int_value=1), AnyValue(bool_value=True), AnyValue(string_value="x")])
    span.attributes.extend([KeyValue(key="customer", value=nested), KeyValue(key="mixed", value=arr),
                            KeyValue(key="blob", value=AnyValue(bytes_value=b"\x00\xffseam")),
                            KeyValue(key="big", value=AnyValue(int_value=2**62))])
    return req


def _stored_rows(store: Store) -> list[tuple]:
    cur = store.cursor()
    columns = [c for c, in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'spans' "
        "AND column_name <> 'ingested_at' ORDER BY ordinal_position").fetchall()]
    select = ", ".join(f'"{c}"' for c in columns)
    return cur.execute(f"SELECT {select} FROM spans ORDER BY trace_id, span_id").fetchall()


def test_protobuf_and_json_store_identical_rows(tmp_path):
    req = _rich_request()
    n = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    doc = _otlp_json(MessageToDict(req, use_integers_for_enums=True))
    assert isinstance(doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"], str)
    stored = {}
    for fmt, body, ctype in [("proto", req.SerializeToString(), "application/x-protobuf"),
                             ("json", json.dumps(doc).encode(), "application/json")]:
        with Store(tmp_path / f"{fmt}.duckdb") as store:
            receiver = OtlpReceiver(store, replace(FAST, grpc=None))
            receiver.start()
            try:
                status, headers, _ = post(receiver.http_address, body, content_type=ctype, gzip=True)
                assert (status, headers["content-type"]) == (200, ctype)
            finally:
                receiver.stop()  # flushes
            stored[fmt] = _stored_rows(store)

    assert len(stored["proto"]) == n
    assert stored["proto"] == stored["json"]
    with Store(tmp_path / "proto.duckdb", read_only=True) as store:
        attrs = json.loads(store.cursor().execute(
            "SELECT attributes FROM spans WHERE attributes LIKE '%customer%'").fetchone()[0])
    assert attrs["customer"] == {"tier": "gold", "weights": 0.25}
    assert attrs["mixed"] == [1, True, "x"]
    assert attrs["blob"] == "base64:" + base64.b64encode(b"\x00\xffseam").decode()
    assert attrs["big"] == 2**62
