"""Analysis at stop: what `collect` received just before Ctrl+C is in `findings` right after.

The user's loop (issue 12): `seamwatch collect`, traffic, Ctrl+C, `seamwatch findings`.
Traces are derived once quiet for 30 s; the last ones before a stop used to stay pending,
and `findings` reported as if they did not exist.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import duckdb
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.collectors.otlp.test_collect_cli import SEAMWATCH, _wait_listening
from tests.support.net import free_port

pytestmark = pytest.mark.slow  # two collect processes, ~20 s each
PROPAGATOR = TraceContextTextMapPropagator()
CHAIN = ("gateway", "orders", "pricing", "tax", "rates")  # four sync hops: deeper than the default limit 3


def _tracers(endpoint: str, services: tuple[str, ...]) -> tuple[dict[str, trace.Tracer], list[TracerProvider]]:
    providers, tracers = [], {}
    for s in services:
        p = TracerProvider(resource=Resource.create({"service.name": s, "service.instance.id": f"{s}-1"}))
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))  # exported as each span ends
        providers.append(p)
        tracers[s] = p.get_tracer("seamwatch.tests.stop")
    return tracers, providers


def emit_chain_and_violation(endpoint: str) -> None:
    """A 5-service sync chain, and one record processed twice by 'billing', writing both times."""
    tracers, providers = _tracers(endpoint, (*CHAIN, "billing"))

    def hop(i: int, ctx) -> None:  # type: ignore[no-untyped-def]
        svc = CHAIN[i]
        with tracers[svc].start_as_current_span(f"POST /{svc}", context=ctx, kind=SpanKind.SERVER,
                                                attributes={"http.request.method": "POST",
                                                            "http.route": f"/{svc}"}):
            if i + 1 < len(CHAIN):
                with tracers[svc].start_as_current_span("POST", kind=SpanKind.CLIENT, attributes={
                        "http.request.method": "POST", "server.address": CHAIN[i + 1]}):
                    carrier: dict[str, str] = {}
                    PROPAGATOR.inject(carrier)
                hop(i + 1, PROPAGATOR.extract(carrier))

    hop(0, None)
    billing = tracers["billing"]
    for _attempt in range(2):  # redelivered after a crash before the commit: processed and written twice
        with billing.start_as_current_span("shop.orders process", kind=SpanKind.CONSUMER,
                                           context=trace.set_span_in_context(trace.INVALID_SPAN), attributes={
                "messaging.system": "kafka", "messaging.destination.name": "shop.orders",
                "messaging.operation.type": "process", "messaging.consumer.group.name": "billing",
                "messaging.destination.partition.id": "0", "messaging.kafka.offset": 7}):
            with billing.start_as_current_span("INSERT invoices", kind=SpanKind.CLIENT, attributes={
                    "db.system": "postgresql", "db.operation.name": "INSERT"}):
                pass
    for p in providers:
        p.shutdown()


def _findings(db, *args: str) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([*SEAMWATCH, "findings", "--db", str(db), *args], capture_output=True, text=True,
                          timeout=120)


def test_findings_right_after_sigint_report_the_last_traces(tmp_path) -> None:
    db, port = tmp_path / "c.duckdb", free_port()
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{port}",
                             "--otlp-decoders", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, proc)
        emit_chain_and_violation(f"http://127.0.0.1:{port}/v1/traces")
        last_span = time.monotonic()
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl+C, at once
    assert time.monotonic() - last_span < 1.0
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    res = _findings(db, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    rules = {(f["rule"], f["subject"]) for f in doc["findings"]}
    chain = [f for f in doc["findings"] if f["rule"] == "LONG_SYNC_CHAIN"]
    assert chain and chain[0]["evidence"]["max_depth"] == 4, chain
    assert ("IDEMPOTENCY_VIOLATION", "billing") in rules, rules
    assert doc["pending"] == {"traces": 0, "since": None, "offset_snapshots": 0}


def test_findings_on_a_store_held_read_only_says_what_is_pending(tmp_path) -> None:
    db, port = tmp_path / "c.duckdb", free_port()
    # a stop that could not derive (killed): the spans are stored, their traces pending
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{port}",
                             "--otlp-decoders", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, proc)
        emit_chain_and_violation(f"http://127.0.0.1:{port}/v1/traces")
        time.sleep(3)  # the receiver's batch reaches the file
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    with duckdb.connect(str(db)) as con:  # what a killed collector leaves: spans, no derived facts
        assert con.execute("SELECT count(DISTINCT trace_id) FROM spans").fetchone()[0] == 3
        first = con.execute("SELECT min(start_time) FROM spans").fetchone()[0]
    # a dashboard browsing the file holds it read-only: findings may read it, not write it
    with duckdb.connect(str(db), read_only=True):
        res = _findings(db, "--json")
        table = _findings(db)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["pending"]["traces"] == 3
    assert doc["pending"]["since"] == first.isoformat()
    assert not [f for f in doc["findings"] if f["rule"] in ("LONG_SYNC_CHAIN", "IDEMPOTENCY_VIOLATION")]
    assert table.returncode == 0, table.stderr
    assert (f"3 traces not analysed yet (spans since {first:%Y-%m-%d %H:%M:%S} UTC)") in table.stdout

    res = _findings(db, "--json")  # writable again: it derives them first
    doc = json.loads(res.stdout)
    assert doc["pending"] == {"traces": 0, "since": None, "offset_snapshots": 0}
    assert {"LONG_SYNC_CHAIN", "IDEMPOTENCY_VIOLATION"} <= {f["rule"] for f in doc["findings"]}
