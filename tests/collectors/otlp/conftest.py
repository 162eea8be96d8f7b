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
