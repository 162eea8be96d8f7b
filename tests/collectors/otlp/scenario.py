"""Traces made with the real OpenTelemetry SDK: a sync chain, a producer with a linked consumer, a batch consumer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATOR = TraceContextTextMapPropagator()


def _hex(ctx: Any) -> tuple[str, str]:
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def emit_shop_traces(make_exporter: Callable[[], SpanExporter]) -> dict[str, tuple[str, str]]:
    """Emit the traces through one exporter per service; returns (trace id, span id) by role."""
    providers: dict[str, TracerProvider] = {}

    def tracer(service: str) -> trace.Tracer:
        if service not in providers:
            p = TracerProvider(resource=Resource.create(
                {"service.name": service, "service.instance.id": f"{service}-1", "deployment.environment": "test"}))
            p.add_span_processor(BatchSpanProcessor(make_exporter()))
            providers[service] = p
        return providers[service].get_tracer("seamwatch.tests", "1.0")

    ids: dict[str, tuple[str, str]] = {}
    web, orders, accounts = tracer("web-checkout"), tracer("orders-api"), tracer("accounts-api")
    email, analytics = tracer("email-service"), tracer("analytics")

    # 1. sync chain: web-checkout → orders-api → accounts-api → database (two hops and a leaf call)
    with web.start_as_current_span("POST /checkout", kind=SpanKind.SERVER,
                                   attributes={"http.request.method": "POST", "http.route": "/checkout"}) as s:
        ids["checkout_server"] = _hex(s.get_span_context())
        with web.start_as_current_span("POST", kind=SpanKind.CLIENT,
                                       attributes={"http.method": "post", "peer.service": "orders-api"}) as c:
            ids["checkout_client"] = _hex(c.get_span_context())
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
        with orders.start_as_current_span("POST /orders", context=PROPAGATOR.extract(carrier), kind=SpanKind.SERVER,
                                          attributes={"http.request.method": "POST", "http.route": "/orders",
                                                      "http.response.status_code": 201}) as o:
            ids["orders_server"] = _hex(o.get_span_context())
            o.add_event("stock reserved", {"sku.count": 3, "warehouse": "north"})
            with orders.start_as_current_span("GET", kind=SpanKind.CLIENT,
                                              attributes={"server.address": "accounts-api"}) as c2:
                ids["orders_client"] = _hex(c2.get_span_context())
                carrier2: dict[str, str] = {}
                PROPAGATOR.inject(carrier2)
            with accounts.start_as_current_span("GET /accounts/{id}", context=PROPAGATOR.extract(carrier2),
                                                kind=SpanKind.SERVER, attributes={"http.route": "/accounts/{id}"}) as a:
                ids["accounts_server"] = _hex(a.get_span_context())
                a.set_status(Status(StatusCode.ERROR, "account locked"))
                with accounts.start_as_current_span("SELECT accounts", kind=SpanKind.CLIENT,
                                                    attributes={"db.system": "postgresql",
                                                                "db.statement": "select * from accounts"}) as db:
                    ids["accounts_db"] = _hex(db.get_span_context())

            # 2. producer (new semconv) and a consumer in its own trace, linked to it (old semconv)
            producers = []
            for i in range(3):
                with orders.start_as_current_span("orders publish", kind=SpanKind.PRODUCER, attributes={
                        "messaging.system": "kafka", "messaging.destination.name": "orders",
                        "messaging.operation.type": "send" if i else "publish",
                        "messaging.destination.partition.id": "2", "messaging.message.id": f"evt-{i}"}) as p:
                    producers.append(p.get_span_context())
                    ids[f"producer_{i}"] = _hex(p.get_span_context())
    with email.start_as_current_span("orders process", kind=SpanKind.CONSUMER, context=trace.set_span_in_context(
            trace.INVALID_SPAN), links=[Link(producers[0], {"messaging.message.id": "evt-0"})], attributes={
            "messaging.system": "kafka", "messaging.destination": "orders", "messaging.operation": "process",
            "messaging.kafka.consumer_group": "email", "messaging.kafka.partition": 2,
            "messaging.kafka.message.offset": 17}) as cons:
        ids["email_consumer"] = _hex(cons.get_span_context())

    # 3. a batch consumer: one process span linked to every message of the batch
    with analytics.start_as_current_span("orders process", kind=SpanKind.CONSUMER, context=trace.set_span_in_context(
            trace.INVALID_SPAN), links=[Link(p) for p in producers], attributes={
            "messaging.system": "kafka", "messaging.destination.name": "orders",
            "messaging.operation.type": "process", "messaging.consumer.group.name": "analytics",
            "messaging.batch.message_count": 3}) as batch:
        ids["analytics_batch"] = _hex(batch.get_span_context())

    for p in providers.values():
        p.shutdown()  # flushes its BatchSpanProcessor through the exporter
    return ids
