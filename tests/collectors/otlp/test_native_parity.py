"""The native OTLP decoder (Rust) gives the Python decoder's table, byte for byte, or hands the request back.

Every request is decoded twice through :func:`collectors.otlp.decode.decode`, once per decoder
(``SEAMWATCH_OTLP_DECODER``), and the outcomes must be identical: the same table (every column's
bytes) and the same rejected spans, or the same refusal. Inputs: generated requests with odd values
(invalid UTF-8, lone and duplicate keys, nested AnyValues, NaN and infinities, every id length,
times and enums out of range, both semantic-convention generations with values of every type),
huge attribute counts, and requests made by the real OpenTelemetry SDK exporters.
"""

from __future__ import annotations

import http.server
import os
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from collectors.normalize import otlp_native, semconv
from collectors.normalize.otlp_limits import Limits
from collectors.otlp.decode import decode
from tests.collectors.otlp.requests import request, with_many_attributes
from tests.collectors.otlp.scenario import emit_shop_traces

pytestmark = pytest.mark.skipif(not otlp_native.available() and os.environ.get("CI") != "true",
                                reason="the native module was not built (no Rust toolchain)")

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = Limits(resource_attributes=6, span_attributes=8, span_events=4, span_links=4, item_attributes=4,
               request_values=120)
DEFAULT = Limits()
MARK = "\u00a7ZZ"  # replaced in the wire bytes by invalid UTF-8 of the same length


def _outcome(body: bytes, limits: Limits) -> tuple[Any, ...]:
    try:
        table, rejected = decode(body, "proto", "parity", limits)
    except Exception as exc:  # the same refusal, in the same words, or the test fails
        return ("raised", type(exc).__name__, str(exc))
    # Arrow's equality compares every value's bytes; the rows make a failure readable
    return ("ok", table, table.to_pylist(), rejected)


def assert_same(body: bytes, limits: Limits = DEFAULT) -> bool:
    """Both decoders' outcomes for ``body`` are identical; True when the native one took it itself."""
    with otlp_native.using("python"):
        python = _outcome(body, limits)
    taken = otlp_native.Counters.native
    with otlp_native.using("native"):
        native = _outcome(body, limits)
    if python[0] == "ok" and native[0] == "ok":
        # the native table comes through Arrow's C data interface, which checks shapes, not
        # values: a full validation catches offsets or UTF-8 that equality might not reach
        native[1].validate(full=True)
        assert native[1].schema == python[1].schema
        assert native[2] == python[2]
        assert native[1].equals(python[1])
        assert native[3] == python[3]
    else:
        assert native == python
    return otlp_native.Counters.native > taken


# -- generated requests ----------------------------------------------------------------------------
_NAMES = sorted({n for names in semconv._PROMOTED.values() for n in names} | set(semconv._DB_TEXT)
                | {"service.name", "service.instance.id"})
_ODD_TEXTS = ["", " select 1", "\tPublish", "Deliver", "post", "\u00df", "caf\u00e9", "\u0130", "\x00\x1f\"\\", "3",
              " -7 ", "1_000", "0x10", "\u0663", "9" * 30, "\u2003GET x", "1__0", "_1", "+", " \x1c12\x1f "]


def _values(odd: bool) -> tuple[Any, Any, Any]:
    """Text, AnyValue and attribute-list strategies; ``odd`` adds invalid UTF-8 and repeated keys."""
    text = st.one_of(st.text(max_size=8), st.sampled_from(_ODD_TEXTS + ([MARK] if odd else [])))
    leaf = st.one_of(
        st.builds(AnyValue, string_value=text),
        st.builds(AnyValue, int_value=st.integers(-(2**63), 2**63 - 1)),
        st.builds(AnyValue, double_value=st.one_of(st.floats(allow_nan=True), st.sampled_from(
            [1e16, 1e-5, 0.1, -0.0, 123456789.125, 5e-324, 1.7976931348623157e308, 2.0**31, -(2.0**63)]))),
        st.builds(AnyValue, bool_value=st.booleans()),
        st.builds(AnyValue, bytes_value=st.binary(max_size=8)),
        st.just(AnyValue()),
    )
    unique = None if odd else (lambda kv: kv.key)
    any_value = st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(inner, max_size=4)),
        st.builds(lambda kvs: AnyValue(kvlist_value=KeyValueList(values=kvs)),
                  st.lists(st.builds(KeyValue, key=st.one_of(st.text(max_size=3), st.sampled_from(["a", "b"])),
                                     value=inner), max_size=3, unique_by=unique)),
    ), max_leaves=10)
    # a promoted name with a list or a map is str()'d by Python (its repr): left to Python, so
    # plain requests give the promoted names plain values
    attribute = st.one_of(st.builds(KeyValue, key=st.sampled_from(_NAMES), value=any_value if odd else leaf),
                          st.builds(KeyValue, key=st.text(max_size=6), value=any_value))
    attributes = st.lists(attribute, max_size=7, unique_by=unique)
    return text, any_value, attributes


_ODD, _PLAIN = _values(True), _values(False)
_trace_id = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20), st.just(bytes(16)))
_span_id = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10), st.just(bytes(8)))
_time = st.one_of(st.integers(1, 2**63 - 1), st.integers(0, 2**64 - 1), st.just(0))


_good_trace_id = st.binary(min_size=16, max_size=16).filter(any)
_good_span_id = st.binary(min_size=8, max_size=8).filter(any)


@st.composite
def requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    """A request of odd spans, or (half the time) of spans Python stores, with odd values still."""
    odd = draw(st.booleans())
    trace_id, span_id = (_trace_id, _span_id) if odd else (_good_trace_id, _good_span_id)
    _text, _, attributes = _ODD if odd else _PLAIN
    time = _time if odd else st.integers(1, 2**63 - 1)
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rs = req.resource_spans.add()
        rs.resource.attributes.extend(draw(attributes))
        for _ in range(draw(st.integers(0, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name = draw(_text)
            for _ in range(draw(st.integers(0, 4))):
                sp = ss.spans.add(trace_id=draw(trace_id), span_id=draw(span_id),
                                  parent_span_id=draw(st.one_of(st.just(b""), span_id)), name=draw(_text),
                                  kind=draw(st.integers(-1, 7) if odd else st.integers(0, 5)),
                                  flags=draw(st.integers(0, 2**32 - 1) if odd else st.integers(0, 2**31 - 1)),
                                  start_time_unix_nano=draw(time), end_time_unix_nano=draw(time))
                sp.attributes.extend(draw(attributes))
                for _ in range(draw(st.integers(0, 3))):
                    sp.events.add(name=draw(_text), time_unix_nano=draw(st.integers(0, 2**64 - 1)),
                                  attributes=draw(attributes))
                for _ in range(draw(st.integers(0, 3))):
                    sp.links.add(trace_id=draw(trace_id), span_id=draw(span_id), attributes=draw(attributes))
                sp.status.code = draw(st.integers(0, 3) if odd else st.integers(0, 2))
                sp.status.message = draw(_text)
    return req


def _wire(req: ExportTraceServiceRequest) -> bytes:
    # MARK's UTF-8 bytes (c2 a7 5a 5a) become invalid UTF-8 of the same length: lengths stay right
    return req.SerializeToString().replace(MARK.encode(), b"\xff\xfeZZ")


@SETTINGS
@given(req=requests())
def test_generated_requests_decode_alike(req):
    assert_same(_wire(req))


@SETTINGS
@given(req=requests())
def test_generated_requests_decode_alike_under_small_caps(req):
    assert_same(_wire(req), SMALL)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_decode_alike(body):
    assert_same(body)


# -- the cases the native decoder must take itself (else the parity above proves little) ------------
def _rich() -> ExportTraceServiceRequest:
    req = request(4)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    nested = AnyValue(kvlist_value=KeyValueList(values=[
        KeyValue(key="deep", value=AnyValue(array_value=ArrayValue(values=[
            AnyValue(double_value=float("nan")), AnyValue(double_value=float("-inf")), AnyValue(double_value=1e300),
            AnyValue(double_value=0.1), AnyValue(bytes_value=b"\x00\xff"), AnyValue()]))),
        KeyValue(key="t\u00e9xt\n\"q\"\x01", value=AnyValue(string_value="\u2603 \x7f"))]))
    span.attributes.extend([
        KeyValue(key="nested", value=nested),
        KeyValue(key="messaging.operation", value=AnyValue(string_value="Publish")),
        KeyValue(key="messaging.kafka.partition", value=AnyValue(string_value=" +1_2 ")),
        KeyValue(key="messaging.kafka.offset", value=AnyValue(double_value=17.9)),
        KeyValue(key="http.method", value=AnyValue(string_value="get")),
        KeyValue(key="http.status_code", value=AnyValue(bool_value=True)),
        KeyValue(key="db.statement", value=AnyValue(string_value="\u3000 select *")),
        KeyValue(key="peer.service", value=AnyValue(double_value=2.5e-7)),
        KeyValue(key="messaging.destination", value=AnyValue(int_value=-3)),
    ])
    span.events.add(name="ev", time_unix_nano=2**64 - 1).attributes.append(
        KeyValue(key="n", value=AnyValue(double_value=float("nan"))))
    link = span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    link.attributes.append(KeyValue(key="k", value=AnyValue(int_value=2**63 - 1)))
    span.links.add(trace_id=b"\x03" * 16, span_id=b"\x04" * 8)
    span.status.code, span.status.message = 2, "boom"
    res = req.resource_spans[0].resource.attributes
    res.append(KeyValue(key="service.instance.id", value=AnyValue(int_value=7)))
    return req


def test_odd_values_within_reach_are_decoded_natively():
    assert assert_same(_rich().SerializeToString())


def test_many_attributes_under_the_cap_are_decoded_natively_and_over_it_fall_back():
    assert assert_same(with_many_attributes(request(2), 4000).SerializeToString())
    over = with_many_attributes(request(2), 5000).SerializeToString()
    assert not assert_same(over)  # the cap's rejection is Python's to word
    with otlp_native.using("native"):
        table, rejected = decode(over, "proto", "parity", Limits())
    assert table.num_rows == 1 and len(rejected) == 1  # no span lost: one stored, one rejected with its reason


def test_a_request_python_rejects_a_span_of_falls_back_whole():
    req = request(3)
    req.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01" * 7
    assert not assert_same(req.SerializeToString())
    with otlp_native.using("native"):
        table, rejected = decode(req.SerializeToString(), "proto", "parity", Limits())
    assert table.num_rows == 2 and len(rejected) == 1


class _Capture(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_requests_captured_from_the_sdk_http_exporter_decode_alike_and_natively():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Capture.bodies = []
    try:
        host, port = server.server_address[:2]
        emit_shop_traces(lambda: HttpExporter(endpoint=f"http://{host}:{port}/v1/traces", timeout=10))
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Capture.bodies) >= 5  # one export (at least) per service of the scenario
    for body in _Capture.bodies:
        assert assert_same(body)


def test_the_bench_requests_decode_alike_and_natively():
    from collectors.bench.otlp import payloads

    for body in payloads(2):
        assert assert_same(body)


def test_a_pyarrow_that_cannot_import_the_columns_turns_the_native_decoder_off_without_losing_a_span(
        monkeypatch, caplog):
    body = request(3).SerializeToString()
    with otlp_native.using("python"):
        expected, _ = decode(body, "proto", "parity", Limits())
    monkeypatch.setattr(otlp_native, "_DECODER", otlp_native._DECODER)  # restored after the test

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("this pyarrow has no Arrow PyCapsule interface")

    monkeypatch.setattr(otlp_native.pa, "record_batch", refuse)
    with otlp_native.using("native"):
        first, rejected = decode(body, "proto", "parity", Limits())
        second, _ = decode(body, "proto", "parity", Limits())
    assert first.equals(expected) and second.equals(expected) and rejected == []
    assert not otlp_native.available() and otlp_native.chosen() == "python"
    said = [r.getMessage() for r in caplog.records if "native OTLP decoder is off" in r.getMessage()]
    assert said == ["the native OTLP decoder is off: pyarrow could not import its columns (TypeError: this "
                    "pyarrow has no Arrow PyCapsule interface); requests are decoded in Python"]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_the_columns_leave_once_and_an_array_never_imported_is_released():
    from collectors.bench.otlp import payloads

    body = payloads(1)[0]  # 512 spans: ~0.3 MB of columns a request
    caps = [DEFAULT.resource_attributes, DEFAULT.span_attributes, DEFAULT.span_events, DEFAULT.span_links,
            DEFAULT.item_attributes, DEFAULT.request_values]
    out = otlp_native._DECODER.decode(body, "parity", caps)
    with pytest.raises(ValueError, match="handed over already"):
        out.capsule(), out.capsule()
    before = _rss()
    for n in range(300):  # ~90 MB of columns if a dropped capsule or array kept its buffers
        out = otlp_native._DECODER.decode(body, "parity", caps)
        if n % 2:
            out.capsule()  # the capsule's destructor releases it
        del out  # the array's own drop releases it
    assert _rss() - before < 30 * 1024 * 1024
