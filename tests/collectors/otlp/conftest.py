"""Fixtures for the OTLP receiver: a real receiver on free loopback ports over a temporary store."""

from __future__ import annotations

import gzip as gzip_module
import http.client
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from collectors.normalize import otlp_native
from collectors.otlp import OtlpConfig, OtlpReceiver
from collectors.store import Store

# decoding in-process keeps each receiver quick to start; test_decoder_pool covers the process pool
FAST = OtlpConfig(http=("127.0.0.1", 0), grpc=("127.0.0.1", 0), flush_interval=0.1, decode_workers=0)


# Protobuf bodies are decoded in Rust when the native module is built, else in Python: every OTLP
# test runs on the default decoder, and the decode-focused ones on both (the differential test,
# test_native_parity.py, compares them byte for byte). The rest would only repeat the same decode.
DECODERS = ["native", "python"] if otlp_native.available() else ["python"]
BOTH_DECODERS = {"test_bad_input.py", "test_parity.py", "test_promoted_columns.py", "test_sdk_exporters.py",
                 "test_otlp_fuzz.py", "test_otlp_amplification.py"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "otlp_decoder" in metafunc.fixturenames and metafunc.definition.path.name in BOTH_DECODERS:
        metafunc.parametrize("otlp_decoder", DECODERS, indirect=True)


@pytest.fixture(autouse=True)
def otlp_decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """SEAMWATCH_OTLP_DECODER for the test (decoder processes inherit it)."""
    name = getattr(request, "param", DECODERS[0])
    monkeypatch.setenv(otlp_native.ENV, name)
    return name


@pytest.fixture
def receiver_factory(store: Store) -> Iterator[Callable[..., OtlpReceiver]]:
    """Start receivers on ephemeral ports; each is stopped (and flushed) after the test."""
    started: list[OtlpReceiver] = []

    def make(**overrides: Any) -> OtlpReceiver:
        r = OtlpReceiver(store, replace(FAST, **overrides))
        r.start()
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


@pytest.fixture
def receiver(receiver_factory: Callable[..., OtlpReceiver]) -> OtlpReceiver:
    return receiver_factory()


def post(address: tuple[str, int], body: bytes, *, content_type: str = "application/x-protobuf",
         gzip: bool = False, encoding: str | None = None, path: str = "/v1/traces",
         timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """POST one body the way an OTLP/HTTP exporter does; returns (status, headers, body)."""
    headers = {"Content-Type": content_type}
    if gzip:
        body = gzip_module.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    if encoding:
        headers["Content-Encoding"] = encoding
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def wait_for(store: Store, sql: str, expected: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Poll a query until its first cell satisfies ``expected`` (rows are written every 0.1 s here)."""
    deadline = time.monotonic() + timeout
    while True:
        value = store.cursor().execute(sql).fetchone()[0]
        if expected(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def stored_spans(store: Store) -> int:
    return store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]


def wait_stored(store: Store, n: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while stored_spans(store) < n:
        assert time.monotonic() < deadline, "the receiver never stored the spans"
        time.sleep(0.05)


def through_an_outage(location: str, stop: Callable[[], Any], start: Callable[[], Any], *, what: str,
                      settle_first: bool = False, noticed_within: float = 30, back_within: float = 60) -> Any:
    """A receiver on the store at ``location`` through an outage of one of its parts: three requests
    answered 200, then ``stop()``; while it lasts every request is answered 503 with Retry-After: 1
    and the queue stays within its bound; after ``start()`` writing comes back, and in the end
    every acknowledged span is stored exactly once, none lost. Returns the receiver's status.
    ``settle_first``: the three requests are stored before the outage, not held."""
    from tests.collectors.otlp.requests import request

    spans, acknowledged, refused = 50, 0, []
    config = replace(FAST, max_pending_rows=1000, flush_rows=100)
    with Store(location) as store:
        receiver = OtlpReceiver(store, config)
        receiver.start()
        try:
            for _ in range(3):
                assert post(receiver.http_address, request(spans).SerializeToString())[0] == 200
                acknowledged += 1
            if settle_first:
                wait_stored(store, acknowledged * spans)
            stop()
            try:
                deadline = time.monotonic() + noticed_within
                while len(refused) < 3:
                    assert time.monotonic() < deadline, f"the receiver never noticed {what} was gone"
                    status, headers, _ = post(receiver.http_address, request(spans).SerializeToString())
                    if status == 200:
                        acknowledged += 1
                    else:
                        refused.append((status, headers.get("retry-after")))
                    time.sleep(0.1)
                assert set(refused) == {(503, "1")}, refused
                assert receiver.status().write_failing
                assert receiver.writer.pending <= config.max_pending_rows
            finally:
                start()
            deadline = time.monotonic() + back_within
            while receiver.status().write_failing:
                assert time.monotonic() < deadline, f"writing never came back after {what} did"
                time.sleep(0.1)
            assert post(receiver.http_address, request(spans).SerializeToString())[0] == 200
            acknowledged += 1
        finally:
            receiver.stop()
        stored = store.cursor().execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchone()
    assert stored == (acknowledged * spans, acknowledged * spans)
    status = receiver.status()
    assert status.rows_lost == 0 and status.rows_unwritten == 0
    return status
