"""A real OpenTelemetry Collector between the SDK exporters and the receiver, as clusters run one:
each of its OTLP exporters (otlp_http with zstd and protobuf, with gzip and JSON; gRPC's otlp with
gzip) lands every span with its structure, and spans the receiver pushes back on (503 and
Retry-After) are retried by the Collector until each is stored once (scripts/otel_collector.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

from collectors.model import KIND_SERVER
from tests.collectors.otlp.conftest import wait_for
from tests.collectors.otlp.scenario import emit_shop_traces
from tests.support.services import service_script

SPANS = "SELECT count(*) FROM spans"


@pytest.fixture
def collector_in_front(tmp_path: Path) -> Iterator[Callable[[str, str], Any]]:
    """Start a Collector forwarding to the given exporter (its kind, its YAML); stopped after the test."""
    harness = service_script("otel_collector")
    why = harness.missing_requirement()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Collector tests cannot run under CI: {why}", pytrace=False)
        pytest.skip(why)
    started: list[Any] = []

    def start(kind: str, exporter: str) -> Any:
        col = harness.Collector(tmp_path / f"otelcol-{len(started)}", kind, exporter)
        col.start()
        started.append(col)
        return col

    yield start
    for col in started:
        col.stop()


def _through(collector) -> Callable[[], GrpcExporter]:
    return lambda: GrpcExporter(endpoint=collector.endpoint, insecure=True, timeout=10)


def _http(receiver, extra: str) -> str:
    host, port = receiver.http_address
    # quick retries, so that a refused request comes back within the test
    return f"endpoint: http://{host}:{port}\n{extra}\nretry_on_failure:\n  initial_interval: 100ms\n  max_interval: 1s"


def _grpc(receiver, extra: str) -> str:
    host, port = receiver.grpc_address
    return f"endpoint: {host}:{port}\ntls:\n  insecure: true\n{extra}"


EXPORTERS = [
    ("otlp_http", _http, "compression: zstd", "otlp-http"),
    ("otlp_http", _http, "encoding: json\ncompression: gzip", "otlp-http"),
    ("otlp", _grpc, "compression: gzip", "otlp-grpc"),
]


@pytest.mark.parametrize(("kind", "address", "settings", "source"), EXPORTERS,
                         ids=["http-zstd-protobuf", "http-gzip-json", "grpc-gzip"])
def test_every_span_the_collector_forwards_lands_with_its_structure(receiver, store, collector_in_front, kind,
                                                                    address, settings, source) -> None:
    collector = collector_in_front(kind, address(receiver, settings))
    ids = emit_shop_traces(_through(collector))
    assert wait_for(store, SPANS, lambda n: n >= len(ids), timeout=60) == len(ids), collector.tail()
    cur = store.cursor()
    assert cur.execute("SELECT DISTINCT source FROM spans").fetchall() == [(source,)]
    assert cur.execute("SELECT count(*) FROM ingest_errors").fetchone()[0] == 0
    trace_id, span_id = ids["orders_server"]
    parent, service, kind_, route, events = cur.execute(
        "SELECT parent_span_id, service, kind, http_route, events FROM spans WHERE trace_id = ? AND span_id = ?",
        [trace_id, span_id]).fetchone()
    assert (parent, service, kind_, route) == (ids["checkout_client"][1], "orders-api", KIND_SERVER, "/orders")
    assert "stock reserved" in events
    # the messaging spans keep what pairs them (destination, operation), whatever the encoding
    assert cur.execute("SELECT count(*) FROM spans WHERE destination = 'orders' AND operation_type = 'send'"
                       ).fetchone()[0] >= 1


def test_spans_pushed_back_are_retried_by_the_collector_and_stored_once(receiver_factory, store,
                                                                        collector_in_front) -> None:
    """The receiver answers 503 and Retry-After while its writer cannot write; the Collector's
    exporter keeps the refused requests in its queue and sends them again once the store is back."""
    receiver = receiver_factory(max_pending_rows=4, flush_rows=4, grpc=None)
    collector = collector_in_front("otlp_http", _http(receiver, "compression: zstd"))
    with store.transaction():  # another writer holds the store: the receiver's queue fills, then refuses
        ids = emit_shop_traces(_through(collector))
        deadline = time.monotonic() + 30
        while receiver.status().requests_by_result["overloaded"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert receiver.status().requests_by_result["overloaded"] >= 1, collector.tail()
    assert wait_for(store, SPANS, lambda n: n >= len(ids), timeout=60) == len(ids), collector.tail()
    time.sleep(2)  # a late retry of a request already stored would show here
    rows, distinct = store.cursor().execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans"
                                            ).fetchone()
    assert (rows, distinct) == (len(ids), len(ids))
