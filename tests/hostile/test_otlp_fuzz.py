"""Property-based fuzzing of the OTLP decoders (protobuf and JSON) through the receiver's Ingest.

For any body: no exception escapes, the request is answered, and when it is taken every span it
holds is either queued for the store or rejected with a reason: the counts add up. Small caps
make the generated requests hit every cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collectors.normalize.otlp_limits import Limits
from collectors.otlp.decode import Decoder
from collectors.otlp.ingest import Ingest, Result
from collectors.otlp.writer import BatchWriter
from collectors.store import Store

pytestmark = pytest.mark.slow  # 500 generated requests: about a minute

LIMITS = Limits(resource_attributes=4, span_attributes=4, span_events=3, span_links=3, item_attributes=3,
                request_values=40)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    with Store(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.duckdb") as s:
        yield s


# -- generated requests: well-formed protobuf, with ids, times and values of any shape ----------
_leaf = st.one_of(
    st.builds(AnyValue, string_value=st.text(max_size=8)),
    st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1)),
    st.builds(AnyValue, double_value=st.floats(allow_nan=True)),
    st.builds(AnyValue, bool_value=st.booleans()),
    st.builds(AnyValue, bytes_value=st.binary(max_size=8)),
    st.just(AnyValue()),
)
_any_value = st.recursive(_leaf, lambda inner: st.one_of(
    st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=4)),
    st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs)),
              st.lists(st.builds(KeyValue, key=st.text(max_size=4), value=inner), max_size=3)),
), max_leaves=12)
_attributes = st.lists(st.builds(KeyValue, key=st.text(max_size=6), value=_any_value), max_size=6)
_id = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
_span_id = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 3))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(draw(_attributes))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(st.text(max_size=5))
            for _ in range(draw(st.integers(0, 4))):
                start = draw(st.integers(0, 2**64 - 1))
                sp = ss.spans.add(trace_id=draw(_id), span_id=draw(_span_id), parent_span_id=draw(_span_id),
                                  name=draw(st.text(max_size=10)), kind=draw(st.integers(0, 7)),
                                  flags=draw(st.integers(0, 2**32 - 1)), start_time_unix_nano=start,
                                  end_time_unix_nano=draw(st.integers(0, 2**64 - 1)))
                sp.attributes.extend(draw(_attributes))
                for _ in range(draw(st.integers(0, 5))):
                    sp.events.add(name=draw(st.text(max_size=4)), time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                                  attributes=draw(_attributes))
                for _ in range(draw(st.integers(0, 5))):
                    sp.links.add(trace_id=draw(_id), span_id=draw(_span_id), attributes=draw(_attributes))
                sp.status.code = draw(st.integers(0, 3))
    return req


def _spans_in_proto(req: ExportTraceServiceRequest) -> int:
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _spans_in_json(doc: dict) -> int:
    return sum(len(ss.get("spans") or []) for rs in doc.get("resourceSpans", [])
               for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or [])


def _export(store: Store, body: bytes, fmt: str) -> tuple[Result, int, int, int, str]:
    """Through a real Ingest and a real (not started) writer: the outcome and the rows it queued."""
    writer = BatchWriter(store, max_pending_rows=1_000_000, flush_rows=1_000_000, flush_interval=60)
    ingest = Ingest(writer, max_body_bytes=1 << 20, decoder=Decoder(0, LIMITS))
    outcome = ingest.export(body, fmt=fmt, source="fuzz", location="hypothesis")
    return outcome.result, outcome.accepted, outcome.rejected, writer.pending, outcome.message


def _check(result: Result, accepted: int, rejected: int, queued: int, message: str, spans: int | None) -> None:
    assert result in (Result.OK, Result.PARTIAL, Result.BAD_REQUEST)
    if result is Result.BAD_REQUEST:
        assert message and accepted == queued == 0  # refused whole, with the reason
        return
    assert accepted == queued  # what was answered as accepted is what the store will get
    if spans is not None:
        assert accepted + rejected == spans
    assert (result is Result.PARTIAL) == (rejected > 0)
    if rejected:
        assert message


@SETTINGS
@given(req=requests())
def test_protobuf_requests_are_stored_or_rejected_with_a_reason(store, req):
    _check(*_export(store, req.SerializeToString(), "proto"), _spans_in_proto(req))


@SETTINGS
@given(req=requests())
def test_json_requests_are_stored_or_rejected_with_a_reason(store, req):
    doc = MessageToDict(req)
    _check(*_export(store, json.dumps(doc).encode(), "json"), _spans_in_json(doc))


@SETTINGS
@given(req=requests(), cut=st.integers(0, 2000), junk=st.binary(max_size=40))
def test_damaged_protobuf_never_escapes(store, req, cut, junk):
    body = req.SerializeToString()
    body = body[:cut] + junk + body[cut + len(junk):]
    _check(*_export(store, body, "proto"), None)


@SETTINGS
@given(body=st.binary(max_size=300))
def test_random_bytes_as_protobuf_never_escape(store, body):
    _check(*_export(store, body, "proto"), None)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["resourceSpans", "scopeSpans", "spans", "resource", "attributes", "key", "value",
                         "traceId", "spanId", "events", "links", "arrayValue", "kvlistValue", "values",
                         "stringValue", "intValue", "startTimeUnixNano", "name", "kind", "status", "code"]),
        inner, max_size=5),
    max_leaves=25)


@SETTINGS
@given(doc=st.dictionaries(st.just("resourceSpans"), _json_values, max_size=1))
def test_json_of_any_shape_never_escapes(store, doc):
    _check(*_export(store, json.dumps(doc).encode(), "json"), None)
