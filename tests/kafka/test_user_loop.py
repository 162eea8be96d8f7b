"""A user's loop, written independently of the sample shop: `seamwatch collect`, traffic, Ctrl+C, `findings`.

Plain confluent-kafka producers and consumers on the real broker, traced with the
OpenTelemetry SDK (spans to collect's OTLP/HTTP receiver), records read by collect's tap and
groups snapshotted by its lag poller every 0.5 s:
- a synchronous chain gateway → orders → pricing → tax → rates (4 hops, over the default 3),
  whose entry publishes an OrderPlaced event per checkout;
- `billing` (two instances) writes an invoice row per order; one instance crashes after
  writing and before committing, the other is handed the partition and writes it again:
  a redelivery and an idempotency violation;
- `email` reads every order and commits: healthy;
- `audit` commits once and all its members leave while orders keep coming: a dead group.
Then SIGINT at once, and `findings --json` must list each incident, and nothing else at
warning or above.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer, Producer
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.kafka.conftest import FAST_GROUP, wait_for
from tests.otlp.test_collect_cli import SEAMWATCH, _wait_listening
from tests.support.net import free_port

pytestmark = pytest.mark.kafka
PROPAGATOR = TraceContextTextMapPropagator()
CHAIN = ("gateway", "orders", "pricing", "tax", "rates")


class Shop:
    def __init__(self, bootstrap: str, otlp: str, run: str) -> None:
        self.bootstrap, self.run = bootstrap, run
        self.topic = f"ul-{run}.orders"
        self.providers: list[TracerProvider] = []
        self.tracers = {s: self._tracer(s, otlp) for s in (*CHAIN, "email", "audit")}
        # billing runs as two instances (two processes, each with its own service.instance.id)
        self.tracers.update({i: self._tracer("billing", otlp, i) for i in ("billing-1", "billing-2")})
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.placed = 0

    def _tracer(self, service: str, endpoint: str, instance: str | None = None) -> trace.Tracer:
        p = TracerProvider(resource=Resource.create({"service.name": service,
                                                     "service.instance.id": f"{instance or service}-{self.run}"}))
        p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.providers.append(p)
        return p.get_tracer("user-loop")

    def checkout(self) -> None:
        """POST /checkout: four synchronous hops deep, then OrderPlaced is published."""
        self._hop(0, None)

    def _hop(self, i: int, ctx) -> None:  # type: ignore[no-untyped-def]
        svc, t = CHAIN[i], self.tracers[CHAIN[i]]
        with t.start_as_current_span(f"POST /{svc}" if i else "POST /checkout", context=ctx, kind=SpanKind.SERVER,
                                     attributes={"http.request.method": "POST",
                                                 "http.route": f"/{svc}" if i else "/checkout"}):
            if i + 1 < len(CHAIN):
                with t.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes={
                        "http.request.method": "POST", "server.address": CHAIN[i + 1]}):
                    carrier: dict[str, str] = {}
                    PROPAGATOR.inject(carrier)
                self._hop(i + 1, PROPAGATOR.extract(carrier))
            if i == 0:
                self._publish(t)

    def _publish(self, t: trace.Tracer) -> None:
        self.placed += 1
        order = f"o-{self.run}-{self.placed}"
        with t.start_as_current_span(f"{self.topic} publish", kind=SpanKind.PRODUCER, attributes={
                "messaging.system": "kafka", "messaging.destination.name": self.topic,
                "messaging.operation.type": "send", "messaging.message.id": order}):
            headers: dict[str, str] = {}
            PROPAGATOR.inject(headers)
            value = {"eventId": order, "eventType": "OrderPlaced", "eventVersion": "1",
                     "occurredAt": datetime.now(UTC).isoformat(), "orderId": order}
            self.producer.produce(self.topic, json.dumps(value).encode(), key=order.encode(),
                                  headers=list(headers.items()))
        self.producer.flush(10)

    def process(self, service: str, group: str, msg, *, write: str | None) -> None:  # type: ignore[no-untyped-def]
        """The consumer's process span, linked to the producer's, with a DB write when it has one.

        ``service`` names the tracer: a service, or one of billing's instances."""
        parent = trace.get_current_span(PROPAGATOR.extract({k: v.decode() for k, v in msg.headers() or []}))
        with self.tracers[service].start_as_current_span(
                f"{self.topic} process", kind=SpanKind.CONSUMER, context=trace.set_span_in_context(trace.INVALID_SPAN),
                links=[Link(parent.get_span_context())], attributes={
                    "messaging.system": "kafka", "messaging.destination.name": self.topic,
                    "messaging.operation.type": "process", "messaging.consumer.group.name": group,
                    "messaging.destination.partition.id": str(msg.partition()), "messaging.kafka.offset": msg.offset(),
                    "messaging.message.id": msg.key().decode()}):
            if write:
                with self.tracers[service].start_as_current_span(f"INSERT {write}", kind=SpanKind.CLIENT, attributes={
                        "db.system": "postgresql", "db.operation.name": "INSERT", "db.collection.name": write}):
                    pass

    def consumer(self, group: str, instance: str) -> Consumer:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{group}-{self.run}", "client.id": instance,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_GROUP})
        c.subscribe([self.topic])
        return c

    def shutdown(self) -> float:
        """Flush every span; returns when the last one was accepted."""
        for p in self.providers:
            p.shutdown()
        return time.monotonic()


def _read(c: Consumer, n: int, within: float = 30.0) -> list:
    got: list = []
    wait_for(lambda: got.extend(m for m in c.consume(n - len(got), 0.2) if not m.error()) or len(got) >= n,
             timeout=within, what=f"{n} messages")
    return got


def test_collect_traffic_ctrl_c_findings(kafka_broker, topic_factory, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    db, port = tmp_path / "loop.duckdb", free_port()
    collect = subprocess.Popen(
        [*SEAMWATCH, "collect", "--db", str(db), "--bootstrap", kafka_broker.bootstrap, "--cluster", "loop",
         "--topic", f"ul-{run}.*", "--from-beginning", "--poll-interval", "0.5", "--tap-group", f"tap-{run}",
         "--otlp-http", f"127.0.0.1:{port}", "--otlp-decoders", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, collect)
        shop = Shop(kafka_broker.bootstrap, f"http://127.0.0.1:{port}/v1/traces", run)
        topic_factory(name=shop.topic)
        email, audit = shop.consumer("email", "email-1"), shop.consumer("audit", "audit-1")
        b1, b2 = shop.consumer("billing", "billing-1"), shop.consumer("billing", "billing-2")
        name = {id(b1): "billing-1", id(b2): "billing-2"}
        for _ in range(3):
            shop.checkout()
        for m in _read(email, 3):
            shop.process("email", f"email-{run}", m, write=None)
            email.commit(message=m, asynchronous=False)
        # audit commits what it read once, stays a member for a poll or two, then all its members leave
        for m in _read(audit, 3):
            shop.process("audit", f"audit-{run}", m, write="audit_log")
        audit.commit(asynchronous=False)
        time.sleep(1.5)
        audit.close()
        # billing: whichever instance holds the partition writes and commits the first three orders
        holder = None
        deadline = time.monotonic() + 30
        done = 0
        while done < 3 and time.monotonic() < deadline:
            for c in (b1, b2):
                for m in c.consume(1, 0.2):
                    if m.error():
                        continue
                    holder = c
                    shop.process(name[id(c)], f"billing-{run}", m, write="invoices")
                    c.commit(message=m, asynchronous=False)
                    done += 1
        assert done == 3 and holder is not None
        other = b2 if holder is b1 else b1
        # the fourth order: the holder writes the invoice and crashes before committing
        shop.checkout()
        m = _read(holder, 1)[0]
        shop.process(name[id(holder)], f"billing-{run}", m, write="invoices")
        holder.close()  # its process is gone; the offset was never committed
        again = _read(other, 1)[0]  # the survivor is handed the partition and gets the same record
        assert (again.partition(), again.offset()) == (m.partition(), m.offset())
        shop.process(name[id(other)], f"billing-{run}", again, write="invoices")
        other.commit(message=again, asynchronous=False)
        for m in _read(email, 1):
            shop.process("email", f"email-{run}", m, write=None)
            email.commit(message=m, asynchronous=False)
        # more orders: email keeps up, audit is gone
        for _ in range(3):
            shop.checkout()
            for m in _read(email, 1):
                shop.process("email", f"email-{run}", m, write=None)
                email.commit(message=m, asynchronous=False)
            for m in _read(other, 1):
                shop.process(name[id(other)], f"billing-{run}", m, write="invoices")
                other.commit(message=m, asynchronous=False)
            time.sleep(0.6)
        # (the Avro topic, behind a schema registry, joins this loop once collect decodes it: issue 12 item 3)
        last_span = shop.shutdown()
    finally:
        collect.send_signal(signal.SIGINT)  # Ctrl+C, at once
    assert time.monotonic() - last_span < 1.0
    out, err = collect.communicate(timeout=120)
    email.close()
    other.close()
    assert collect.returncode == 0, err

    res = subprocess.run([*SEAMWATCH, "findings", "--db", str(db), "--json"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["pending"]["traces"] == 0 and doc["errors"] == {}
    found = {(f["rule"], f["subject"]): f for f in doc["findings"]}
    loud = {k for k, f in found.items() if f["severity"] in ("warning", "error", "critical")}
    expected = {("LONG_SYNC_CHAIN", "gateway POST /checkout"), ("IDEMPOTENCY_VIOLATION", f"billing-{run}"),
                ("CONSUMER_LAG", f"audit-{run}")}
    assert loud == expected, json.dumps([found[k] for k in sorted(loud ^ expected) if k in found], indent=1,
                                         default=str)
    assert found[("LONG_SYNC_CHAIN", "gateway POST /checkout")]["evidence"]["max_depth"] == 4
    # one redelivery, after the crash, to the other instance: info (one restart is no crash loop)
    redelivery = found[("REDELIVERY", f"billing-{run}")]
    assert redelivery["count"] == 1 and redelivery["evidence"]["causes"] == {"restart_rebalance": 1}, redelivery
    violation = found[("IDEMPOTENCY_VIOLATION", f"billing-{run}")]
    assert violation["count"] == 1
    assert found[("CONSUMER_LAG", f"audit-{run}")]["severity"] == "error"
    assert found[("CONSUMER_LAG", f"audit-{run}")]["evidence"]["worst_partition_status"] == "STOP"
