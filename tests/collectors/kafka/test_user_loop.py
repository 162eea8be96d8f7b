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
- `audit` commits once and all its members leave while orders keep coming: a dead group;
- `payments` publishes PaymentCaptured facts in Avro, in the Confluent wire format (confluent-kafka's
  AvroSerializer against its in-memory `mock://` registry: no registry server runs here, and a
  mock is private to its process), which `ledger` reads once each and commits: healthy. collect
  decodes them with `--schemas`, a folder holding the schema under the id that registry gave it;
- one RefundIssued record, also Avro, whose schema is not in the folder: stored raw and counted
  in ingest_errors, while the PaymentCaptured records after it are still decoded.
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
from pathlib import Path

import duckdb
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.collectors.kafka.conftest import FAST_GROUP, wait_for
from tests.collectors.otlp.test_collect_cli import SEAMWATCH, _wait_listening
from tests.support.net import free_port

pytestmark = pytest.mark.kafka
PROPAGATOR = TraceContextTextMapPropagator()
CHAIN = ("gateway", "orders", "pricing", "tax", "rates")
PAYMENT = json.dumps({"type": "record", "name": "PaymentCaptured", "namespace": "shop.payments", "fields": [
    {"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
    {"name": "eventVersion", "type": "string"},
    {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "orderId", "type": "string"}, {"name": "amountCents", "type": "long"}]})
REFUND = json.dumps({"type": "record", "name": "RefundIssued", "namespace": "shop.payments", "fields": [
    {"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
    {"name": "eventVersion", "type": "string"},
    {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}}]})


class Shop:
    def __init__(self, bootstrap: str, otlp: str, run: str) -> None:
        self.bootstrap, self.run = bootstrap, run
        self.topic = f"ul-{run}.orders"
        self.payments, self.refunds = f"ul-{run}.payments", f"ul-{run}.refunds"
        self.providers: list[TracerProvider] = []
        self.tracers = {s: self._tracer(s, otlp) for s in (*CHAIN, "email", "audit", "payments", "ledger")}
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

    def publish_avro(self, topic: str, key: str, value: bytes) -> None:
        """payments publishes an Avro value (already in the wire format), traced like any publish."""
        with self.tracers["payments"].start_as_current_span(f"{topic} publish", kind=SpanKind.PRODUCER, attributes={
                "messaging.system": "kafka", "messaging.destination.name": topic,
                "messaging.operation.type": "send", "messaging.message.id": key}):
            headers: dict[str, str] = {}
            PROPAGATOR.inject(headers)
            self.producer.produce(topic, value, key=key.encode(), headers=list(headers.items()))
        self.producer.flush(10)

    def process(self, service: str, group: str, msg, *, write: str | None) -> None:  # type: ignore[no-untyped-def]
        """The consumer's process span, linked to the producer's, with a DB write when it has one.

        ``service`` names the tracer: a service, or one of billing's instances."""
        parent = trace.get_current_span(PROPAGATOR.extract({k: v.decode() for k, v in msg.headers() or []}))
        with self.tracers[service].start_as_current_span(
                f"{msg.topic()} process", kind=SpanKind.CONSUMER, context=trace.set_span_in_context(trace.INVALID_SPAN),
                links=[Link(parent.get_span_context())], attributes={
                    "messaging.system": "kafka", "messaging.destination.name": msg.topic(),
                    "messaging.operation.type": "process", "messaging.consumer.group.name": group,
                    "messaging.destination.partition.id": str(msg.partition()), "messaging.kafka.offset": msg.offset(),
                    "messaging.message.id": msg.key().decode()}):
            if write:
                with self.tracers[service].start_as_current_span(f"INSERT {write}", kind=SpanKind.CLIENT, attributes={
                        "db.system": "postgresql", "db.operation.name": "INSERT", "db.collection.name": write}):
                    pass

    def consumer(self, group: str, instance: str, topic: str | None = None) -> Consumer:
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{group}-{self.run}", "client.id": instance,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_GROUP})
        c.subscribe([topic or self.topic])
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


class AvroPayments:
    """Avro values as a producer writes them: AvroSerializer against confluent-kafka's in-memory
    registry, whose schema ids the user keeps as files (the folder collect's --schemas reads)."""

    def __init__(self, run: str, schemas: Path) -> None:
        self.registry = SchemaRegistryClient.new_client({"url": f"mock://user-loop-{run}"})
        self.payment = AvroSerializer(self.registry, PAYMENT)
        self.refund = AvroSerializer(self.registry, REFUND)
        self.sent = 0
        # the id the registry gives PaymentCaptured's subject, as the user would export it
        self.payment_id = self.registry.register_schema(f"ul-{run}.payments-value", Schema(PAYMENT, "AVRO"))
        (schemas / f"{self.payment_id}.avsc").write_text(PAYMENT)

    def captured(self, topic: str, order: str) -> tuple[str, bytes]:
        self.sent += 1
        event_id = f"pay-{order}"
        value = self.payment({"eventId": event_id, "eventType": "PaymentCaptured", "eventVersion": "1",
                              "occurredAt": datetime.now(UTC), "orderId": order, "amountCents": 1250 + self.sent},
                             SerializationContext(topic, MessageField.VALUE))
        assert int.from_bytes(value[1:5], "big") == self.payment_id  # the bytes name the id the folder holds
        return event_id, value

    def refund_issued(self, topic: str, order: str) -> bytes:
        value = self.refund({"eventId": f"refund-{order}", "eventType": "RefundIssued", "eventVersion": "1",
                             "occurredAt": datetime.now(UTC)}, SerializationContext(topic, MessageField.VALUE))
        assert int.from_bytes(value[1:5], "big") != self.payment_id  # a schema id the folder lacks
        return value


def test_collect_traffic_ctrl_c_findings(kafka_broker, topic_factory, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    db, port = tmp_path / "loop.duckdb", free_port()
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    avro = AvroPayments(run, schemas)
    collect = subprocess.Popen(
        [*SEAMWATCH, "collect", "--db", str(db), "--bootstrap", kafka_broker.bootstrap, "--cluster", "loop",
         "--topic", f"ul-{run}.*", "--from-beginning", "--poll-interval", "0.5", "--tap-group", f"tap-{run}",
         "--otlp-http", f"127.0.0.1:{port}", "--otlp-decoders", "0", "--schemas", str(schemas)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, collect)
        shop = Shop(kafka_broker.bootstrap, f"http://127.0.0.1:{port}/v1/traces", run)
        for topic in (shop.topic, shop.payments, shop.refunds):
            topic_factory(name=topic)
        email, audit = shop.consumer("email", "email-1"), shop.consumer("audit", "audit-1")
        ledger = shop.consumer("ledger", "ledger-1", shop.payments)
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
        # the Avro topic: a payment per order, each read once by ledger, which writes and commits it;
        # between the second and the third, a refund whose schema the folder does not hold
        paid = []
        for i in range(1, 5):
            if i == 3:
                shop.publish_avro(shop.refunds, f"o-{run}-2", avro.refund_issued(shop.refunds, f"o-{run}-2"))
            event_id, value = avro.captured(shop.payments, f"o-{run}-{i}")
            shop.publish_avro(shop.payments, f"o-{run}-{i}", value)
            paid.append(event_id)
            for m in _read(ledger, 1):
                shop.process("ledger", f"ledger-{run}", m, write="ledger_entries")
                ledger.commit(message=m, asynchronous=False)
        time.sleep(1.2)  # the lag poller sees ledger caught up
        last_span = shop.shutdown()
    finally:
        collect.send_signal(signal.SIGINT)  # Ctrl+C, at once
    assert time.monotonic() - last_span < 1.0
    out, err = collect.communicate(timeout=120)
    email.close()
    other.close()
    ledger.close()
    assert collect.returncode == 0, err

    res = subprocess.run([*SEAMWATCH, "findings", "--db", str(db), "--json"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["pending"]["traces"] == 0 and doc["errors"] == {}
    found = {(f["rule"], f["subject"]): f for f in doc["findings"]}
    # the lag poller sees every group on the broker, and the suite's other tests leave groups behind
    # (their lag findings are true, but not this scenario's): judge this run's groups only
    loud = {k for k, f in found.items() if f["severity"] in ("warning", "error", "critical")
            and (f["subject_kind"] != "group" or run in f["subject"])}
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
    # the Avro topic: no finding of any severity, and ledger is no lagging group
    about_payments = [f for f in doc["findings"] if shop.payments in json.dumps(f, default=str)
                      or f["subject"] == f"ledger-{run}"]
    assert about_payments == [], json.dumps(about_payments, indent=1, default=str)

    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute('SELECT envelope, event_id, event_type, event_version FROM records '
                             'WHERE topic = $t ORDER BY "offset"', {"t": shop.payments}).fetchall()
        refunds = con.execute('SELECT envelope, event_id FROM records WHERE topic = $t', {"t": shop.refunds}).fetchall()
        errors = con.execute("SELECT location, reason FROM ingest_errors WHERE location LIKE $p",
                             {"p": f"{shop.refunds}/%"}).fetchall()
    finally:
        con.close()
    # decoded, after the undecodable refund as before it: collect kept going
    assert stored == [("avro", e, "PaymentCaptured", "1") for e in paid]
    assert refunds == [("none", None)]  # stored, as bytes
    assert len(errors) == 1 and errors[0][0] == f"{shop.refunds}/0/0", errors
    assert errors[0][1].startswith("1 wire-format record(s) stored undecoded: schema ")
    assert errors[0][1].endswith(" not found in schemas/"), errors
