"""The real OpenTelemetry SDK exporters (OTLP/HTTP and OTLP/gRPC) into the receiver and the store."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from collectors.derive import derive_all
from collectors.model import FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE, KIND_CLIENT, KIND_SERVER
from tests.collectors.otlp.conftest import wait_for
from tests.collectors.otlp.scenario import emit_shop_traces


def _http(receiver):
    host, port = receiver.http_address
    return lambda: HttpExporter(endpoint=f"http://{host}:{port}/v1/traces", compression=Compression.Gzip, timeout=10)


def _grpc(receiver):
    host, port = receiver.grpc_address
    return lambda: GrpcExporter(endpoint=f"{host}:{port}", insecure=True, compression=grpc.Compression.Gzip,
                                timeout=10)


@pytest.mark.parametrize(("exporter", "source", "decode_workers"), [
    (_http, "otlp-http", 0), (_grpc, "otlp-grpc", 0), (_http, "otlp-http", 2), (_grpc, "otlp-grpc", 1),
], ids=["http", "grpc", "http-decoder-processes", "grpc-decoder-process"])
def test_sdk_traces_land_in_the_store_with_their_structure(receiver_factory, store, exporter, source, decode_workers):
    receiver = receiver_factory(decode_workers=decode_workers)
    ids = emit_shop_traces(exporter(receiver))
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= len(ids)) == len(ids)
    cur = store.cursor()

    def row(role: str, *columns: str):
        trace_id, span_id = ids[role]
        quoted = ", ".join(f'"{c}"' for c in columns)
        return cur.execute(f"SELECT {quoted} FROM spans WHERE trace_id = ? AND span_id = ?",
                           [trace_id, span_id]).fetchone()

    assert cur.execute("SELECT DISTINCT source FROM spans").fetchall() == [(source,)]
    assert cur.execute("SELECT count(*) FROM ingest_errors").fetchone()[0] == 0

    # sync chain: parent/child across services, remote-parent flags kept, depth 2 (checkout→orders→accounts)
    chain_trace = ids["checkout_server"][0]
    assert row("orders_server", "parent_span_id", "service", "kind") == (
        ids["checkout_client"][1], "orders-api", KIND_SERVER)
    assert row("accounts_server", "parent_span_id") == (ids["orders_client"][1],)
    (remote_flags,) = row("orders_server", "flags")
    (local_flags,) = row("orders_client", "flags")
    assert remote_flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE) == FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE
    assert local_flags & (FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE) == FLAG_HAS_IS_REMOTE
    assert row("checkout_server", "parent_span_id") == (None,)
    # the call-chain analysis (collectors.derive, docs/architecture.md#synchronous-call-chain-depth) sees the chain and the async segments
    derive_all(store, quiet_for=timedelta(0))
    assert cur.execute("SELECT max_depth, root_service FROM trace_facts WHERE trace_id = ?",
                       [chain_trace]).fetchone() == (2, "web-checkout")
    path = cur.execute("SELECT service_path FROM trace_segments WHERE trace_id = ? AND cause = 'root'",
                       [chain_trace]).fetchone()[0]
    assert path == ["web-checkout", "orders-api", "accounts-api"]
    segments = cur.execute("SELECT entry_service, cause, consumer_group FROM trace_segments "
                           "WHERE cause = 'consumer' ORDER BY 1").fetchall()
    assert segments == [("analytics", "consumer", "analytics"), ("email-service", "consumer", "email")]
    paired = cur.execute("SELECT consumer_service, producer_span_id, pairing FROM message_lag "
                         "ORDER BY consumer_service, producer_span_id").fetchall()
    assert paired == sorted([("analytics", ids[f"producer_{i}"][1], "link") for i in range(3)]
                            + [("email-service", ids["producer_0"][1], "link")])
    assert row("accounts_db", "kind", "db_system", "db_operation") == (KIND_CLIENT, "postgresql", "SELECT")
    assert row("checkout_client", "http_method", "peer_service") == ("POST", "orders-api")
    assert row("orders_server", "http_route", "http_status") == ("/orders", 201)

    # status, events and resource attributes survive
    assert row("accounts_server", "status_code", "status_message") == (2, "account locked")
    (events,) = row("orders_server", "events")
    assert json.loads(events)[0]["name"] == "stock reserved"
    assert json.loads(events)[0]["attributes"] == {"sku.count": 3, "warehouse": "north"}
    service_instance, resource = row("orders_server", "service_instance", "resource")
    assert service_instance == "orders-api-1"
    assert json.loads(resource)["deployment.environment"] == "test"

    # producer (new semconv names, and the old 'publish' operation) and its linked consumer (old names)
    assert row("producer_0", "operation_type", "destination", "partition", "message_id") == (
        "send", "orders", 2, "evt-0")
    assert row("producer_1", "operation_type") == ("send",)
    consumer = row("email_consumer", "trace_id", "parent_span_id", "links", "operation_type", "destination",
                   "consumer_group", "partition", "offset")
    assert consumer[0] != chain_trace and consumer[1] is None
    assert [(ln["trace_id"], ln["span_id"]) for ln in consumer[2]] == [ids["producer_0"]]
    assert json.loads(consumer[2][0]["attributes"]) == {"messaging.message.id": "evt-0"}
    assert consumer[3:] == ("process", "orders", "email", 2, 17)

    # batch consumer: one process span linked to all three messages
    links, group = row("analytics_batch", "links", "consumer_group")
    assert group == "analytics"
    assert sorted((ln["trace_id"], ln["span_id"]) for ln in links) == sorted(ids[f"producer_{i}"] for i in range(3))

    status = receiver.status()
    assert status.spans_accepted == len(ids) and status.spans_written == len(ids)
    assert status.requests_by_result["bad_request"] == 0


def test_the_python_sdks_deflate_and_a_raw_deflate_body_land_too(receiver_factory, store):
    """OTEL_EXPORTER_OTLP_COMPRESSION=deflate (zlib's format); some clients send a raw deflate stream
    under the same name: both are the spans they carry."""
    import zlib

    from tests.collectors.otlp.conftest import post
    from tests.collectors.otlp.requests import request

    receiver = receiver_factory(grpc=None)
    host, port = receiver.http_address
    ids = emit_shop_traces(lambda: HttpExporter(endpoint=f"http://{host}:{port}/v1/traces",
                                                compression=Compression.Deflate, timeout=10))
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= len(ids)) == len(ids)
    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(request(3).SerializeToString()) + raw.flush()
    assert post(receiver.http_address, body, encoding="deflate")[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= len(ids) + 3) == len(ids) + 3
    assert store.cursor().execute("SELECT count(*) FROM ingest_errors").fetchone()[0] == 0
