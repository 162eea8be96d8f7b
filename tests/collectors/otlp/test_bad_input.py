"""Bad input gets the right OTLP answer and an ingest-error row, and the next good request is served."""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib

import grpc
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request, spans_of, with_many_attributes

PROTOBUF, JSON = "application/x-protobuf", "application/json"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _errors(store) -> list[tuple[str, str]]:
    return store.cursor().execute("SELECT source, reason FROM ingest_errors ORDER BY \"at\"").fetchall()


def _good_request_still_served(receiver, store, stored_before: int) -> None:
    status, _, body = post(receiver.http_address, request(3).SerializeToString())
    assert (status, body) == (200, b"")  # an empty ExportTraceServiceResponse
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= stored_before + 3) == stored_before + 3


def _truncated() -> bytes:
    return request(3).SerializeToString()[:-5]


def _oversize() -> bytes:
    return request(2000).SerializeToString()  # ~180 kB, over the 64 kB cap of these tests


def _bomb() -> bytes:
    return b"\x00" * 5_000_000  # compresses to ~5 kB


# (case, body, post() options, status, a phrase of the reason)
CASES = [
    ("truncated protobuf", _truncated, {}, 400, "not an OTLP ExportTraceServiceRequest"),
    ("wrong content type", lambda: request(1).SerializeToString(), {"content_type": "text/plain"}, 415,
     "content type 'text/plain'"),
    ("bad gzip", lambda: b"this is not gzip", {"encoding": "gzip"}, 400, "not valid gzip"),
    ("truncated gzip", lambda: gzip.compress(request(3).SerializeToString())[:-12], {"encoding": "gzip"}, 400,
     "not valid gzip"),
    ("bad deflate", lambda: b"this is not deflate", {"encoding": "deflate"}, 400, "not valid deflate"),
    ("deflate with trailing bytes", lambda: zlib.compress(request(1).SerializeToString()) + b"junk",
     {"encoding": "deflate"}, 400, "4 bytes after the stream"),
    ("deflate bomb", lambda: zlib.compress(_bomb()), {"encoding": "deflate"}, 413,
     "larger than 65536 bytes once decompressed"),
    ("bad zstd", lambda: b"this is not zstd", {"encoding": "zstd"}, 400, "not valid zstd"),
    ("unknown encoding", lambda: request(1).SerializeToString(), {"encoding": "br"}, 415,
     "'br' is not gzip, deflate, zstd or identity"),
    ("oversize body", _oversize, {}, 413, "larger than 65536 bytes"),
    ("oversize once decompressed", _bomb, {"gzip": True}, 413, "larger than 65536 bytes once decompressed"),
    ("garbage JSON", lambda: b'{"resourceSpans": [', {"content_type": JSON}, 400, "body is not JSON"),
    ("JSON that is not OTLP", lambda: b'[1, 2, 3]', {"content_type": JSON}, 400, "not a JSON object"),
    ("JSON of the wrong shape", lambda: b'{"resourceSpans": [7]}', {"content_type": JSON}, 400,
     "not OTLP trace data"),
]


@pytest.mark.parametrize(("case", "make", "options", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_bad_body_is_refused_recorded_and_the_receiver_goes_on(receiver_factory, store, case, make, options,
                                                               status, reason):
    receiver = receiver_factory(max_body_bytes=64 * 1024, grpc=None)
    got, headers, body = post(receiver.http_address, make(), **options)
    assert got == status
    ctype = options.get("content_type", PROTOBUF)
    if ctype == JSON or ctype not in (PROTOBUF, JSON):
        assert headers["content-type"] == JSON
        answer = json.loads(body)
        assert answer["code"] in (3, 8) and reason in answer["message"]
    else:
        assert headers["content-type"] == PROTOBUF
        answer = Status.FromString(body)
        assert answer.code in (3, 8) and reason in answer.message
    wait_for(store, "SELECT count(*) FROM ingest_errors", lambda n: n >= 1)
    errors = _errors(store)
    assert len(errors) == 1 and errors[0][0] == "otlp-http" and reason in errors[0][1]
    if case == "truncated protobuf":  # binary bodies are kept as hex, text ones as text
        excerpt = store.cursor().execute("SELECT raw_excerpt FROM ingest_errors").fetchone()[0]
        assert excerpt.startswith("hex:0a") and bytes.fromhex(excerpt[4:])  # field 1, resource_spans
    _good_request_still_served(receiver, store, 0)
    assert receiver.status().requests_by_result[{400: "bad_request", 413: "too_large", 415: "unsupported"}[status]] == 1


def test_wrong_length_ids_reject_only_those_spans(receiver, store):
    req = request(4)
    spans = spans_of(req)
    spans[1].trace_id = b"\x01" * 8  # 8 bytes where 16 belong
    spans[2].parent_span_id = b"\x02" * 4
    status, headers, body = post(receiver.http_address, req.SerializeToString())
    assert (status, headers["content-type"]) == (200, PROTOBUF)
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 2
    assert "2 of 4 spans rejected" in partial.error_message and "trace id must be 32 hex digits" in partial.error_message
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 2) == 2
    assert sorted(r for _, r in _errors(store)) == [
        "parent span id must be 16 hex digits, not '02020202'",
        "trace id must be 32 hex digits, not '0101010101010101'",
    ]

    # the same over JSON: partial success answered in JSON
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "ok", "startTimeUnixNano": "1700000000000000000"},
        {"traceId": "ab" * 15, "spanId": "ef" * 8, "name": "short id", "startTimeUnixNano": "1700000000000000000"},
    ]}]}]}
    status, headers, body = post(receiver.http_address, json.dumps(doc).encode(), content_type=JSON)
    assert (status, headers["content-type"]) == (200, JSON)
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 3) == 3
    _good_request_still_served(receiver, store, 3)


def test_a_million_attribute_span_is_rejected_without_stalling(receiver, store):
    req = with_many_attributes(request(2), 1_000_000)
    status, _, body = post(receiver.http_address, req.SerializeToString(), gzip=True)
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 1
    # counting stops at the cap: a million attributes are never all walked
    assert "more attributes than the limit of 4096" in partial.error_message
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 1) == 1
    (reason, excerpt), = store.cursor().execute("SELECT reason, raw_excerpt FROM ingest_errors").fetchall()
    assert "than the limit" in reason and len(excerpt) < 1024
    _good_request_still_served(receiver, store, 1)


def test_full_queue_answers_retry_later_then_recovers(receiver_factory, store):
    receiver = receiver_factory(max_pending_rows=10, flush_rows=10)
    body = request(10).SerializeToString()
    with store.transaction():  # another writer holds the store: the receiver's writer must wait
        assert post(receiver.http_address, body)[0] == 200  # fills the queue
        status, headers, answer = post(receiver.http_address, body)
        assert status == 503 and headers["retry-after"] == "1"
        assert Status.FromString(answer).code == 14  # UNAVAILABLE
        with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address)) as channel:
            with pytest.raises(grpc.RpcError) as err:
                channel.unary_unary(EXPORT)(body, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 10) == 10
    # new spans: the same body again would be a retry, stored once (tests/hostile/test_otlp_retries.py)
    assert post(receiver.http_address, request(10).SerializeToString())[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 20) == 20
    assert receiver.status().requests_by_result["overloaded"] == 2


def test_grpc_bad_input_gets_grpc_codes_and_error_rows(receiver, store):
    with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address)) as channel:
        export = channel.unary_unary(EXPORT)
        with pytest.raises(grpc.RpcError) as err:
            export(_truncated(), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not an OTLP ExportTraceServiceRequest" in err.value.details()

        req = request(3)
        spans_of(req)[0].span_id = b"\x00" * 8  # the invalid all-zero span id
        answer = ExportTraceServiceResponse.FromString(export(req.SerializeToString(), timeout=5))
        assert answer.partial_success.rejected_spans == 1

        assert export(request(3).SerializeToString(), timeout=5) == b""
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 5) == 5
    reasons = sorted(r for s, r in _errors(store) if s == "otlp-grpc")
    assert len(reasons) == 2 and "not an OTLP" in reasons[0] and "span id must be 16 hex digits" in reasons[1]


def test_decoder_processes_refuse_bad_bodies_and_survive_a_dead_worker(receiver_factory, store):
    receiver = receiver_factory(decode_workers=1, grpc=None)
    status, _, body = post(receiver.http_address, _truncated())
    assert status == 400 and "not an OTLP ExportTraceServiceRequest" in Status.FromString(body).message

    # a decoder process dies (OOM killer, a crash): one request is told to retry, then a new pool serves
    (worker,) = receiver.decoder._all
    worker.process.kill()
    worker.process.join(5)
    status, headers, _ = post(receiver.http_address, request(3).SerializeToString())
    assert status == 503 and headers["retry-after"] == "1"
    _good_request_still_served(receiver, store, 0)
    assert receiver.status().decoder_restarts == 1
    (reason,) = [r for _, r in _errors(store)]
    assert reason.startswith("not an OTLP ExportTraceServiceRequest")


def test_too_many_bodies_at_once_get_429_with_retry_after(receiver_factory, store):
    receiver = receiver_factory(max_body_bytes=64 * 1024, max_inflight_bytes=64 * 1024, grpc=None)
    host, port = receiver.http_address
    # a client that has sent most of a 60 kB chunked body holds those bytes meanwhile (bytes it
    # has not sent yet hold nothing: tests/hostile/test_http_slow_clients.py)
    slow = socket.create_connection((host, port), timeout=30)
    slow.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    slow_body = request(650).SerializeToString()
    slow.sendall(b"%x\r\n%s\r\n" % (len(slow_body) - 10, slow_body[:-10]))
    deadline = time.monotonic() + 30
    while receiver.ingest._inflight < len(slow_body) - 10:  # the server has read what was sent
        assert time.monotonic() < deadline, "the slow request never started"
        time.sleep(0.02)
    body = request(100).SerializeToString()  # 9 kB more is over the 64 KiB budget
    status, headers, answer = post(receiver.http_address, body)
    assert status == 429 and headers["retry-after"] == "1"
    assert Status.FromString(answer).code == 8  # RESOURCE_EXHAUSTED
    # the slow client finishes: its request succeeds, and so does the next one
    slow.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (10, slow_body[-10:]))
    assert slow.recv(4096).startswith(b"HTTP/1.1 200")
    slow.close()
    # the server gives the budget back just after it answers: wait for that, not a sleep
    while receiver.ingest._inflight != 0:
        assert time.monotonic() < deadline, "the finished request never released its budget"
        time.sleep(0.02)
    _good_request_still_served(receiver, store, 650)
    assert receiver.status().requests_by_result["busy"] == 1


def test_grpc_cap_applies_after_decompression(receiver_factory, store):
    receiver = receiver_factory(max_body_bytes=64 * 1024, http=None)
    with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address), compression=grpc.Compression.Gzip) as channel:
        export = channel.unary_unary(EXPORT)
        big = request(2000).SerializeToString()  # ~190 kB, ~25 kB gzipped
        with pytest.raises(grpc.RpcError) as err:
            export(big, timeout=5)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert export(request(3).SerializeToString(), timeout=5) == b""
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 3) == 3
