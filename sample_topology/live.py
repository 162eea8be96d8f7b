"""The live sample shop: real producers and consumers on a Kafka broker, traced with the SDK.

`run_live()` creates the bundled topology's topics, runs orders-api and payments-api as
producers and the email, fulfillment, reporting and invoicing groups as real consumers
(confluent-kafka, one instance at a time per group), each processing in a CONSUMER span
linked to the producer span whose trace context travels in the `traceparent` header. The
incidents of docs/architecture.md#the-sample-shop happen for real, at the fractions of the run that
sample_topology.incidents uses offline:

- email dead-letters a poison order after three failed attempts, with Spring DLT headers;
- fulfillment turns slow (its lag rises);
- reporting crash-loops: it dies before committing, and its next instance redelivers;
- invoicing dies once before committing and issues a second invoice for the redelivered
  orders (not idempotent);
- orders-api publishes one OrderCreated twice (a producer retry without idempotence);
- accounts-api's address change publishes a check request and waits in its handler for the
  reply on another topic (request-reply over topics);
- warehouse-api's parcel scans: from half-way ParcelDispatched is keyed by tracking number, so
  the tracking group may handle it before ParcelPacked; later ParcelPacked changes shape
  under the same version (a field retyped, one removed) while ParcelDispatched adds an
  optional field;
- loyalty-api publishes PointsRedeemed before its commit, and every fourth redemption then
  rolls back (a phantom event), while payments-api's refunds commit first (the healthy look-alike).

The returned LiveReport counts what was injected from the simulator's own bookkeeping
(every processing it did, every offset the broker gave), so tests compare the analyses'
findings with it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from collectors.topology import Topology, load_topology
from sample_topology import TOPOLOGY_FILE, address_checks, encode_records, parcels, quotes, transactions
from sample_topology.incidents import POISON_ATTEMPTS
from sample_topology.live_otel import Telemetry
from sample_topology.plan import DeadLetter, Event, Record

log = logging.getLogger(__name__)

ORDERS, PAYMENTS, INVOICES, ORDERS_DLT = "shop.orders", "shop.payments", "shop.invoices", "shop.orders.DLT"
DEEP_CHAIN = ("web-checkout", "orders-api", "pricing-api", "tax-api", "currency-rates")
FOREIGN_CURRENCY = 0.25  # share of checkouts priced in another currency: tax-api then asks currency-rates
COMMIT_EVERY = 5  # processings between synchronous commits: what a crash redelivers
SLOW_SECONDS = 0.4  # fulfillment's per-message time once it turns slow
QUOTE_EVERY_S = 2.0  # a shopper asks for a shipping quote (by event: the incident) this often
QUOTE_TIMEOUT_S = 5.0  # how long a quote request waits for its reply before answering without one
TX_EVERY_S = 1.5  # a points redemption and a refund (sample_topology/transactions.py) this often
PARCEL_EVERY_S = 0.5  # a parcel is packed and dispatched (sample_topology/parcels.py) this often
TRACK_SECONDS = 0.02  # tracking's time per scan
# tracking is tuned for throughput: fetches wait for a second's worth of records, which come back
# partition by partition, so two events of one parcel on different partitions lose their order
TRACK_CONF = {"fetch.min.bytes": 1_000_000, "fetch.wait.max.ms": 1000}
GROUP_CONF = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": 1000}


@dataclass
class LiveReport:
    """What the live run did and injected (ground truth for tests and the console)."""
    seconds: float = 0.0
    produced: Counter[str] = field(default_factory=Counter)
    duplicate_events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    processings: dict[str, Counter[tuple[str, int, int]]] = field(default_factory=lambda: defaultdict(Counter))
    restarts: Counter[str] = field(default_factory=Counter)
    invoices: Counter[tuple[str, int, int]] = field(default_factory=Counter)  # order record → invoices issued
    invoiced_events: dict[str, set[tuple[str, int, int]]] = field(default_factory=lambda: defaultdict(set))
    slow_group: str = "fulfillment"
    final_lag: dict[str, int] = field(default_factory=dict)
    deep_checkouts: int = 0  # checkouts whose synchronous chain reached currency-rates
    quotes_waited: int = 0  # quote requests that held the shopper until the reply event was read
    quotes_unanswered: int = 0
    redemptions: int = 0  # PointsRedeemed published before the balance update committed
    redemptions_rolled_back: int = 0  # ... whose update then failed and rolled back: phantom events
    refunds: int = 0  # RefundIssued published after the commit (the healthy look-alike)
    refunds_failed: int = 0  # refunds rolled back before publishing anything
    address_checks_waited: int = 0  # address changes whose handler waited for the reply on the reply topic
    address_checks_unanswered: int = 0
    parcels_processed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # parcel → types
    parcels_reshaped: int = 0  # ParcelPacked sent in the changed shape (weight as text, no dimensions)

    def parcels_out_of_order(self) -> int:
        """Parcels whose ParcelDispatched tracking handled before their ParcelPacked."""
        return sum(1 for types in self.parcels_processed.values()
                   if "ParcelDispatched" in types and "ParcelPacked" in types
                   and types.index("ParcelDispatched") < types.index("ParcelPacked"))

    def redelivered(self, group: str) -> int:
        """Records the group processed more than once."""
        return sum(1 for n in self.processings[group].values() if n > 1)

    def invoiced_twice(self) -> int:
        """Invoicing's idempotency violations (docs/architecture.md#idempotency-violations): records it invoiced more than once
        (redeliveries), plus events it invoiced from more than one record (a duplicate publication)."""
        by_record = sum(1 for n in self.invoices.values() if n > 1)
        by_event = sum(1 for recs in self.invoiced_events.values() if len(recs) > 1)
        return by_record + by_event

    def lines(self) -> list[str]:
        out = [f"ran {self.seconds:.0f}s; produced " + ", ".join(f"{n} to {t}" for t, n in sorted(self.produced.items()))]
        for d in self.duplicate_events:
            out.append(f"duplicate publication: event {d['event_id']} on {d['topic']} at offsets "
                       f"{', '.join(f'{p}/{o}' for p, o in d['offsets'])}")
        for d in self.dead_letters:
            out.append(f"dead letter: {d['origin_topic']}/{d['origin_partition']}/{d['origin_offset']} by group "
                       f"{d['group']} → {d['topic']}/{d['partition']}/{d['offset']} after {POISON_ATTEMPTS} attempts")
        for group in sorted(self.processings):
            n = self.redelivered(group)
            if n or self.restarts[group]:
                out.append(f"redeliveries: group {group} processed {n} records more than once "
                           f"({self.restarts[group]} restarts)")
        twice = self.invoiced_twice()
        out.append(f"non-idempotent consumer: invoicing issued a second invoice {twice} times "
                   "(redelivered orders, and the order published twice)")
        out.append(f"slow group: {self.slow_group}, offset lag at the end {self.final_lag.get(self.slow_group, '?')}")
        out.append(f"deep synchronous chain: {self.deep_checkouts} checkouts waited on {' → '.join(DEEP_CHAIN)} "
                   f"({len(DEEP_CHAIN) - 1} hops)")
        out.append(f"passive-aggressive event: {self.quotes_waited} shipping quote requests waited for the "
                   f"{quotes.REPLY_TOPIC} reply ({self.quotes_unanswered} gave up)")
        out.append(f"request-reply over topics: {self.address_checks_waited} address changes waited in their handler "
                   f"for {address_checks.REPLY_TOPIC} ({self.address_checks_unanswered} gave up)")
        out.append(f"out-of-order processing: tracking handled {self.parcels_out_of_order()} parcels' "
                   f"ParcelDispatched before their ParcelPacked; {self.parcels_reshaped} ParcelPacked changed shape "
                   "under version 1")
        out.append(f"publish before commit: {self.redemptions} points redemptions published before their commit, "
                   f"{self.redemptions_rolled_back} of them then rolled back (phantom events); {self.refunds} "
                   f"refunds published after it ({self.refunds_failed} failed and published nothing)")
        return out


def _attrs(topic: str, op: str, **kw: Any) -> dict[str, Any]:
    a = {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.operation.type": op}
    a.update({k: v for k, v in kw.items() if v is not None})
    return a


def _headers(pairs: list[tuple[str, Any]]) -> list[tuple[str, bytes]]:
    out = []
    for k, v in pairs:
        if isinstance(v, dict) and "b64" in v:
            import base64

            out.append((k, base64.b64decode(v["b64"])))
        elif v is not None:
            out.append((k, str(v).encode()))
    return out


class _Producer:
    """A traced producer of one service: each send is a PRODUCER span, synchronous for offsets."""

    def __init__(self, conf: dict[str, Any], telemetry: Telemetry, service: str, report: LiveReport) -> None:
        from confluent_kafka import Producer

        self.tracer = telemetry.tracer(service, f"{service}-0")
        self.service = service
        self.report = report
        self.p = Producer({**conf, "client.id": service, "linger.ms": 0})
        self._lock = threading.Lock()

    def send(self, topic: str, key: str, value: str, headers: list[tuple[str, Any]], *,
             event_id: str | None = None) -> tuple[int, int]:
        from opentelemetry import trace
        from opentelemetry.propagate import inject

        with self.tracer.start_as_current_span(f"{topic} send", kind=trace.SpanKind.PRODUCER,
                                               attributes=_attrs(topic, "send", **{"messaging.message.id": event_id})) as span:
            carrier: dict[str, str] = {}
            inject(carrier)
            done: list[Any] = []
            with self._lock:
                self.p.produce(topic, key=key.encode(), value=value.encode(),
                               headers=_headers(list(carrier.items()) + headers),
                               on_delivery=lambda err, msg: done.append((err, msg)))
                self.p.flush(30)
            err, msg = done[0]
            if err is not None:
                raise RuntimeError(f"produce to {topic} failed: {err}")
            span.set_attribute("messaging.destination.partition.id", str(msg.partition()))
            span.set_attribute("messaging.kafka.offset", msg.offset())
        self.report.produced[topic] += 1
        return msg.partition(), msg.offset()


class _Group(threading.Thread):
    """One consumer group, one instance at a time; `crash_at` are run fractions where it dies."""

    def __init__(self, run: LiveRun, group: str, service: str, topics: tuple[str, ...], *,
                 crash_at: tuple[float, ...] = (), slow_from: float | None = None,
                 conf: dict[str, Any] | None = None) -> None:
        super().__init__(name=f"live-{group}", daemon=True)
        self.conf = conf or {}
        self.run_, self.group, self.service, self.topics = run, group, service, topics
        self.crash_at = list(crash_at)
        self.slow_from = slow_from
        self.stop_flag = threading.Event()
        self.instance = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                self._instance()
        except BaseException as exc:  # noqa: BLE001 (reported by LiveRun)
            self.error = exc
            log.exception("live group %s failed", self.group)

    def _instance(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        name = f"{self.service}-{self.instance}"
        tracer = self.run_.telemetry.tracer(self.service, name)
        c = Consumer({**self.run_.conf, **GROUP_CONF, **self.conf, "group.id": self.group, "client.id": name})
        c.subscribe(list(self.topics))
        pending: dict[tuple[str, int], int] = {}
        since_commit = 0
        try:
            while not self.stop_flag.is_set():
                msg = c.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                self._process(msg, tracer, name)
                pending[(msg.topic(), msg.partition())] = msg.offset() + 1
                since_commit += 1
                if self.crash_at and self.run_.fraction() >= self.crash_at[0]:
                    self.crash_at.pop(0)
                    self.run_.report.restarts[self.group] += 1
                    log.info("live: %s dies with %d uncommitted processings", name, since_commit)
                    self.instance += 1
                    return  # closes without committing: the next instance redelivers
                if since_commit >= COMMIT_EVERY:
                    c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in pending.items()], asynchronous=False)
                    pending.clear()
                    since_commit = 0
            if pending:  # a clean stop commits what it processed
                c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in pending.items()], asynchronous=False)
        finally:
            c.close()

    def _process(self, msg: Any, tracer: Any, instance: str) -> None:
        from opentelemetry import trace
        from opentelemetry.propagate import extract

        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in (msg.headers() or [])}
        producer_ctx = trace.get_current_span(extract(headers)).get_span_context()
        links = [trace.Link(producer_ctx)] if producer_ctx.is_valid else []
        rec = (msg.topic(), msg.partition(), msg.offset())
        attempts = POISON_ATTEMPTS if self.service == "email-service" and msg.key() == b"order-poison" else 1
        for attempt in range(1, attempts + 1):
            attrs = _attrs(msg.topic(), "process", **{
                "messaging.destination.partition.id": str(msg.partition()), "messaging.kafka.offset": msg.offset(),
                "messaging.consumer.group.name": self.group, "messaging.client.id": instance,
                "messaging.kafka.message.key": (msg.key() or b"").decode("utf-8", "replace")})
            with tracer.start_as_current_span(f"{msg.topic()} process", kind=trace.SpanKind.CONSUMER,
                                              links=links, attributes=attrs) as span:
                self.run_.report.processings[self.group][rec] += 1
                if attempts > 1 and attempt < attempts:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, "cannot render template: coupon code"))
                    continue
                if attempts > 1:
                    self.run_.dead_letter(msg, self.group)
                    continue
                self._work(msg, rec)

    def _work(self, msg: Any, rec: tuple[str, int, int]) -> None:
        if self.slow_from is not None and self.run_.fraction() >= self.slow_from:
            time.sleep(SLOW_SECONDS)
        if self.service == "invoicing-service" and msg.topic().endswith(ORDERS):
            self.run_.issue_invoice(msg, rec)
        elif self.service == "shipping-service" and msg.topic().endswith(quotes.REQUEST_TOPIC):
            self.run_.answer_quote(msg)
        elif self.service == "web-checkout" and msg.topic().endswith(quotes.REPLY_TOPIC):
            self.run_.quote_answered(msg)
        elif self.service == "address-service" and msg.topic().endswith(address_checks.REQUEST_TOPIC):
            self.run_.answer_address_check(msg)
        elif self.service == "tracking-service" and msg.topic().endswith(parcels.TOPIC):
            time.sleep(TRACK_SECONDS)
            headers = {k: (v or b"").decode() for k, v in (msg.headers() or [])}
            self.run_.report.parcels_processed[headers.get("ce_subject", "")].append(headers.get("ce_type", ""))


class LiveRun:
    """One live run against a broker (see the module docstring)."""

    def __init__(self, *, bootstrap: str, telemetry: Telemetry, duration: float = 60.0, rate: float = 4.0,
                 seed: int = 7, conf: dict[str, Any] | None = None, topology: Topology | None = None,
                 namespace: str = "") -> None:
        self.conf = {"bootstrap.servers": bootstrap, **(conf or {})}
        self.ns = namespace  # prefixes topics and groups, so runs on one broker stay apart (tests)
        self.telemetry = telemetry
        self.duration, self.rate = duration, rate
        self.rng = random.Random(seed)
        self.quote_rng = random.Random(seed + quotes.SEED_OFFSET)  # the quotes' thread leaves the checkouts' draws alone
        self.tx_rng = random.Random(seed + transactions.SEED_OFFSET)
        self.check_rng = random.Random(seed + address_checks.SEED_OFFSET)  # used under the GIL by two threads
        self.parcel_rng = random.Random(seed + parcels.SEED_OFFSET)
        self.topology = topology or load_topology(TOPOLOGY_FILE)
        self.report = LiveReport()
        self._t0 = 0.0

    def fraction(self) -> float:
        return min(1.0, (time.monotonic() - self._t0) / self.duration)

    def ensure_topics(self) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.conf)
        have = admin.list_topics(timeout=15).topics
        new = [NewTopic(self.ns + t.name, num_partitions=t.partitions, replication_factor=1)
               for t in self.topology.topics.values() if self.ns + t.name not in have]
        for name, fut in (admin.create_topics(new).items() if new else []):
            try:
                fut.result(30)
            except Exception as exc:  # noqa: BLE001 (created meanwhile by someone else)
                log.info("topic %s: %s", name, exc)

    def run(self) -> LiveReport:
        self.ensure_topics()
        self.orders = _Producer(self.conf, self.telemetry, "orders-api", self.report)
        self.payments = _Producer(self.conf, self.telemetry, "payments-api", self.report)
        self.invoicing = _Producer(self.conf, self.telemetry, "invoicing-service", self.report)
        self.email = _Producer(self.conf, self.telemetry, "email-service", self.report)
        self.web = _Producer(self.conf, self.telemetry, "web-checkout", self.report)
        self.shipping = _Producer(self.conf, self.telemetry, "shipping-service", self.report)
        self.loyalty = _Producer(self.conf, self.telemetry, "loyalty-api", self.report)
        self.accounts = _Producer(self.conf, self.telemetry, "accounts-api", self.report)
        self.address = _Producer(self.conf, self.telemetry, "address-service", self.report)
        self.warehouse = _Producer(self.conf, self.telemetry, "warehouse-api", self.report)
        # correlation id -> (set when the reply is read, the reply's (topic, partition, offset, event id))
        self.replies: dict[str, tuple[threading.Event, list[tuple[str, int, int, str | None]]]] = {}
        self.refunds = _Producer(self.conf, self.telemetry, "payments-api", self.report)
        self.waiting: dict[str, threading.Event] = {}  # quote request event id -> set when its reply is read
        ns = self.ns
        groups = [
            _Group(self, ns + "email", "email-service", (ns + ORDERS,)),
            _Group(self, ns + "fulfillment", "fulfillment-service", (ns + ORDERS,), slow_from=0.40),
            _Group(self, ns + "reporting", "reporting-service", (ns + ORDERS, ns + PAYMENTS),
                   crash_at=(0.55, 0.70, 0.85)),
            _Group(self, ns + "invoicing", "invoicing-service", (ns + ORDERS,), crash_at=(0.35,)),
            _Group(self, ns + quotes.RESPONDER, "shipping-service", (ns + quotes.REQUEST_TOPIC,)),
            _Group(self, ns + quotes.READER, "web-checkout", (ns + quotes.REPLY_TOPIC,)),
            _Group(self, ns + address_checks.RESPONDER, "address-service", (ns + address_checks.REQUEST_TOPIC,)),
            _Group(self, ns + parcels.GROUP, "tracking-service", (ns + parcels.TOPIC,), conf=TRACK_CONF),
        ]
        self.report.slow_group = ns + "fulfillment"
        self._t0 = time.monotonic()
        for g in groups:
            g.start()
        quoting = threading.Thread(target=self._quotes, name="live-quotes", daemon=True)
        quoting.start()  # beside the checkouts, whose pace the quotes' waits must not slow
        committing = threading.Thread(target=self._transactions, name="live-transactions", daemon=True)
        committing.start()
        self._replies_stop = threading.Event()
        reply_reader = threading.Thread(target=self._read_replies, name="live-replies", daemon=True)
        reply_reader.start()
        checking = threading.Thread(target=self._address_checks, name="live-address-checks", daemon=True)
        checking.start()
        scanning = threading.Thread(target=self._parcels, name="live-parcels", daemon=True)
        scanning.start()
        try:
            self._produce()
            quoting.join(QUOTE_TIMEOUT_S + 5)
            committing.join(10)
            checking.join(QUOTE_TIMEOUT_S + 5)
            scanning.join(10)
            time.sleep(min(5.0, self.duration / 6))  # let the healthy groups catch up
        finally:
            self._replies_stop.set()
            reply_reader.join(30)
            for g in groups:
                g.stop_flag.set()
            for g in groups:
                g.join(30)
            self.report.seconds = time.monotonic() - self._t0
            self.telemetry.shutdown()
        failed = [g for g in groups if g.error is not None]
        if failed:
            raise RuntimeError(f"live group {failed[0].group} failed: {failed[0].error}")
        self.report.final_lag = self._lag({g.group for g in groups})
        return self.report

    def _produce(self) -> None:
        n = 0
        poisoned = duplicated = False
        while self.fraction() < 1.0:
            due = self._t0 + n / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
            frac = self.fraction()
            key = f"order-{n}"
            if not poisoned and frac >= 0.30:
                key, poisoned = "order-poison", True
            self._order(key, duplicate=not duplicated and frac >= 0.50)
            duplicated = duplicated or frac >= 0.50
            n += 1

    @contextmanager
    def _call(self, caller: str, callee: str, method: str, route: str, path: str,
              work_ms: tuple[float, float] = (1, 4)) -> Iterator[None]:
        """A synchronous HTTP call, traced on both sides: the caller's CLIENT span, the callee's
        SERVER span under it (W3C context, as an HTTP instrumentation would pass it), which
        works for a few milliseconds before its own calls."""
        from opentelemetry import trace

        client = self.telemetry.tracer(caller, f"{caller}-0")
        server = self.telemetry.tracer(callee, f"{callee}-0")
        with client.start_as_current_span(method, kind=trace.SpanKind.CLIENT, attributes={
                "http.request.method": method, "server.address": callee, "url.full": f"http://{callee}{path}",
                "http.response.status_code": 200}), \
             server.start_as_current_span(f"{method} {route}", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": method, "http.route": route, "url.path": path,
                "http.response.status_code": 200}):
            time.sleep(self.rng.uniform(*work_ms) / 1000)
            yield

    def _order(self, key: str, *, duplicate: bool) -> None:
        """A checkout: web-checkout calls orders-api, which calls accounts, pricing (which asks
        tax, which for a foreign currency asks currency-rates: four hops), inventory and
        payments, commits the order and announces it."""
        from opentelemetry import trace

        web = self.telemetry.tracer("web-checkout", "web-checkout-0")
        now_us = time.time_ns() // 1000
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128)))
        currency = "EUR" if self.rng.random() >= FOREIGN_CURRENCY else self.rng.choice(["GBP", "USD", "CHF"])
        with web.start_as_current_span("POST /checkout", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/checkout", "http.response.status_code": 201}), \
             self._call("web-checkout", "orders-api", "POST", "/orders", "/orders"):
            with self._call("orders-api", "accounts-api", "GET", "/accounts/{id}", f"/accounts/acct-{key}"):
                pass
            with self._call("orders-api", "pricing-api", "POST", "/quotes", "/quotes"), \
                 self._call("pricing-api", "tax-api", "GET", "/tax/rates", "/tax/rates"):
                if currency != "EUR":
                    with self._call("tax-api", "currency-rates", "GET", "/rates/{currency}", f"/rates/{currency}",
                                    work_ms=(20, 60)):  # it asks an external provider
                        self.report.deep_checkouts += 1
            with self._call("orders-api", "inventory-api", "POST", "/reservations", "/reservations"):
                pass
            with self._call("orders-api", "payments-api", "POST", "/payments", "/payments", work_ms=(8, 25)):
                pass
            ev = Event(type="OrderCreated", envelope="json", source="orders-api", occurred_at=now_us,
                       event_id=event_id, version="1", correlation_id=f"corr-{key}",
                       data={"orderId": key, "amount": self.rng.randint(500, 50000), "currency": currency})
            value, headers = encode_records.event_value(ev, 0)
            orders = self.ns + ORDERS
            first = self.orders.send(orders, key, value, headers, event_id=event_id)
            if duplicate:  # the retry of a send whose acknowledgement was lost: same event, new offset
                second = self.orders.send(orders, key, value, headers, event_id=event_id)
                self.report.duplicate_events.append({"event_id": event_id, "topic": orders,
                                                     "offsets": [first, second]})
            pay = Event(type="PaymentCaptured", envelope="cloudevents", source="/payments-api", occurred_at=now_us,
                        event_id=str(uuid.UUID(int=self.rng.getrandbits(128))), version="2", subject=key,
                        causation_id=event_id, correlation_id=f"corr-{key}", data={"orderId": key})
            value, headers = encode_records.event_value(pay, 0)
            self.payments.send(self.ns + PAYMENTS, key, value, headers, event_id=pay.event_id)

    def _quotes(self) -> None:
        n = 0
        while self.fraction() < 1.0:
            time.sleep(max(0.0, self._t0 + (n + 1) * QUOTE_EVERY_S - time.monotonic()))
            if self.fraction() < 1.0:
                self._quote(f"cart-{n}")
            n += 1

    def _quote(self, cart: str) -> None:
        """A shipping quote asked for by event: web-checkout publishes the request and holds the
        shopper's request until its group has read the reply (sample_topology/quotes.py)."""
        from opentelemetry import trace

        web = self.telemetry.tracer("web-checkout", "web-checkout-0")
        event_id = str(uuid.UUID(int=self.quote_rng.getrandbits(128)))
        answered = self.waiting[event_id] = threading.Event()
        with web.start_as_current_span("POST /shipping-quotes", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/shipping-quotes", "http.response.status_code": 200}):
            ev = Event(type="ShippingQuoteRequested", envelope="json", source="web-checkout",
                       occurred_at=time.time_ns() // 1000, event_id=event_id, version="1", subject=cart,
                       correlation_id=f"corr-{cart}", data={"cartId": cart, "country": "DE"})
            value, headers = encode_records.event_value(ev, 0)
            self.web.send(self.ns + quotes.REQUEST_TOPIC, cart, value, headers, event_id=event_id)
            if answered.wait(QUOTE_TIMEOUT_S):
                self.report.quotes_waited += 1
            else:
                self.report.quotes_unanswered += 1
        self.waiting.pop(event_id, None)

    def _transactions(self) -> None:
        n = 0
        while self.fraction() < 1.0:
            time.sleep(max(0.0, self._t0 + (n + 1) * TX_EVERY_S - time.monotonic()))
            if self.fraction() < 1.0:
                self._redeem(f"mem-{n}", fails=n % 4 == 3)
                self._refund(f"pay-{n}", fails=n % 5 == 4)
            n += 1

    @contextmanager
    def _db(self, tracer: Any, statement: str, *, error: str | None = None) -> Iterator[None]:
        """A database call as a DB client span (the statement is recorded, never executed)."""
        from opentelemetry import trace

        with tracer.start_as_current_span(statement.split()[0], kind=trace.SpanKind.CLIENT, attributes={
                "db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": statement}) as span:
            time.sleep(self.tx_rng.uniform(0.5, 3.0) / 1000)
            yield
            if error:
                span.set_status(trace.Status(trace.StatusCode.ERROR, error))

    def _redeem(self, member: str, *, fails: bool) -> None:
        """loyalty-api publishes PointsRedeemed, then updates the balance and commits (or rolls back):
        sample_topology/transactions.py."""
        from opentelemetry import trace

        api = self.telemetry.tracer("loyalty-api", "loyalty-api-0")
        with api.start_as_current_span("POST /loyalty/redemptions", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/loyalty/redemptions",
                "http.response.status_code": 409 if fails else 201}):
            with self._db(api, "SELECT * FROM members WHERE id = $1"):
                pass
            ev = Event(type="PointsRedeemed", envelope="json", source="loyalty-api", occurred_at=time.time_ns() // 1000,
                       event_id=str(uuid.UUID(int=self.tx_rng.getrandbits(128))), version="1", subject=member,
                       correlation_id=f"corr-{member}", data={"memberId": member, "points": 500})
            value, headers = encode_records.event_value(ev, 0)
            self.loyalty.send(self.ns + transactions.POINTS_TOPIC, member, value, headers, event_id=ev.event_id)
            self.report.redemptions += 1
            with self._db(api, "UPDATE members SET points = points - $1 WHERE id = $2",
                          error=transactions.POINTS_SHORT if fails else None):
                pass
            with self._db(api, "ROLLBACK" if fails else "COMMIT"):
                pass
            self.report.redemptions_rolled_back += fails

    def _refund(self, payment: str, *, fails: bool) -> None:
        """payments-api writes the refund, commits, then publishes RefundIssued: the healthy look-alike."""
        from opentelemetry import trace

        api = self.telemetry.tracer("payments-api", "payments-api-0")
        with api.start_as_current_span("POST /refunds", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": "POST", "http.route": "/refunds",
                "http.response.status_code": 500 if fails else 201}) as span:
            with self._db(api, "INSERT INTO refunds VALUES ($1, $2)",
                          error=transactions.REFUND_DUPLICATE if fails else None):
                pass
            if fails:
                with self._db(api, "ROLLBACK"):
                    pass
                span.set_status(trace.Status(trace.StatusCode.ERROR, transactions.REFUND_DUPLICATE))
                self.report.refunds_failed += 1
                return
            with self._db(api, "COMMIT"):
                pass
            ev = Event(type="RefundIssued", envelope="json", source="payments-api", occurred_at=time.time_ns() // 1000,
                       event_id=str(uuid.UUID(int=self.tx_rng.getrandbits(128))), version="1", subject=payment,
                       correlation_id=f"corr-{payment}", data={"paymentId": payment, "amount": 12.5})
            value, headers = encode_records.event_value(ev, 0)
            self.refunds.send(self.ns + transactions.REFUNDS_TOPIC, payment, value, headers, event_id=ev.event_id)
            self.report.refunds += 1

    def _parcels(self) -> None:
        n = 0
        while self.fraction() < 1.0:
            time.sleep(max(0.0, self._t0 + (n + 1) * PARCEL_EVERY_S - time.monotonic()))
            if self.fraction() < 1.0:
                self._parcel(f"parcel-{n}")
            n += 1

    def _parcel(self, parcel: str) -> None:
        """warehouse-api's two scans of one parcel (sample_topology/parcels.py): from KEY_CHANGE_AT the
        dispatch is keyed by tracking number, from SHAPE_CHANGE_AT the packing scan changes shape."""
        from opentelemetry import trace

        api = self.telemetry.tracer("warehouse-api", "warehouse-api-0")
        tracking = f"TRK{self.parcel_rng.randrange(10**9, 10**10)}"
        reshaped = self.fraction() >= parcels.SHAPE_CHANGE_AT
        packed: dict[str, Any] = {"parcelId": parcel, "weight": "1250 g"} if reshaped else {
            "parcelId": parcel, "weight": 1250, "dimensions": {"l": 30, "w": 20, "h": 10}}
        dispatched: dict[str, Any] = {"parcelId": parcel, "trackingNumber": tracking, "carrier": "dhl"}
        if self.fraction() >= parcels.OPTIONAL_FIELD_AT:
            dispatched["carrierRef"] = f"cr-{parcel}"
        key_changed = self.fraction() >= parcels.KEY_CHANGE_AT
        for etype, key, data in (("ParcelPacked", parcel, packed),
                                 ("ParcelDispatched", tracking if key_changed else parcel, dispatched)):
            with api.start_as_current_span("POST /parcels/{id}/scans", kind=trace.SpanKind.SERVER, attributes={
                    "http.request.method": "POST", "http.route": "/parcels/{id}/scans",
                    "http.response.status_code": 202}):
                ev = Event(type=etype, envelope="cloudevents", source="/warehouse-api",
                           occurred_at=time.time_ns() // 1000,
                           event_id=str(uuid.UUID(int=self.parcel_rng.getrandbits(128))), version="1", subject=parcel,
                           data=data)
                value, headers = encode_records.event_value(ev, 0)
                self.warehouse.send(self.ns + parcels.TOPIC, key, value, headers, event_id=ev.event_id)
            time.sleep(0.03)  # the dispatch scan follows the packing scan
        self.report.parcels_reshaped += reshaped

    def _address_checks(self) -> None:
        n = 0
        while self.fraction() < 1.0:
            time.sleep(max(0.0, self._t0 + (n + 1) * QUOTE_EVERY_S - time.monotonic()))
            if self.fraction() < 1.0:
                self._address_check(f"acct-{n}")
            n += 1

    def _address_check(self, account: str) -> None:
        """accounts-api publishes AddressCheckRequested with a reply-to header and its handler waits
        for address-service's answer on the reply topic (sample_topology/address_checks.py)."""
        from opentelemetry import trace

        api = self.telemetry.tracer("accounts-api", "accounts-api-0")
        correlation = str(uuid.UUID(int=self.check_rng.getrandbits(128)))
        answered = threading.Event()
        got: list[tuple[str, int, int, str | None]] = []
        self.replies[correlation] = (answered, got)
        reply_topic = self.ns + address_checks.REPLY_TOPIC
        with api.start_as_current_span("PUT /accounts/{id}/address", kind=trace.SpanKind.SERVER, attributes={
                "http.request.method": "PUT", "http.route": "/accounts/{id}/address",
                "http.response.status_code": 200}):
            ev = Event(type="AddressCheckRequested", envelope="json", source="accounts-api",
                       occurred_at=time.time_ns() // 1000, event_id=str(uuid.UUID(int=self.check_rng.getrandbits(128))),
                       version="1", subject=account, correlation_id=correlation,
                       data={"accountId": account, "country": "DE", "postcode": "10115"})
            value, headers = encode_records.event_value(ev, 0)
            headers += [("kafka_replyTopic", reply_topic), ("kafka_correlationId", correlation)]
            self.accounts.send(self.ns + address_checks.REQUEST_TOPIC, account, value, headers, event_id=ev.event_id)
            if not answered.wait(QUOTE_TIMEOUT_S):
                self.report.address_checks_unanswered += 1
            else:
                topic, partition, offset, event_id = got[0]
                with api.start_as_current_span(f"poll {topic}", kind=trace.SpanKind.CLIENT, attributes=_attrs(
                        topic, "receive", **{"messaging.destination.partition.id": str(partition),
                                             "messaging.kafka.offset": offset, "messaging.message.id": event_id,
                                             "messaging.consumer.group.name": self.ns + address_checks.REPLY_GROUP})):
                    pass
                self.report.address_checks_waited += 1
        self.replies.pop(correlation, None)

    def _read_replies(self) -> None:
        """The reply container: hands each AddressChecked to the handler waiting on its correlation id."""
        from confluent_kafka import Consumer

        c = Consumer({**self.conf, **GROUP_CONF, "group.id": self.ns + address_checks.REPLY_GROUP,
                      "enable.auto.commit": True})
        c.subscribe([self.ns + address_checks.REPLY_TOPIC])
        try:
            while not self._replies_stop.is_set():
                msg = c.poll(0.2)
                if msg is None or msg.error() is not None:
                    continue
                doc = json.loads(msg.value())
                waiting = self.replies.get(doc.get("correlationId") or "")
                if waiting is not None:
                    waiting[1].append((msg.topic(), msg.partition(), msg.offset(), doc.get("eventId")))
                    waiting[0].set()
        finally:
            c.close()

    def answer_address_check(self, msg: Any) -> None:
        """address-service answers on the reply topic, with the request's correlation id."""
        req = json.loads(msg.value())
        account = (msg.key() or b"").decode()
        ev = Event(type="AddressChecked", envelope="json", source="address-service",
                   occurred_at=time.time_ns() // 1000, event_id=str(uuid.UUID(int=self.check_rng.getrandbits(128))),
                   version="1", subject=account, causation_id=req.get("eventId"),
                   correlation_id=req.get("correlationId"), data={"accountId": account, "valid": True})
        value, headers = encode_records.event_value(ev, 0)
        headers.append(("kafka_correlationId", req.get("correlationId")))
        self.address.send(self.ns + address_checks.REPLY_TOPIC, account, value, headers, event_id=ev.event_id)

    def answer_quote(self, msg: Any) -> None:
        """The shipping group prices the parcel and publishes the answer, caused by the request."""
        req = json.loads(msg.value())
        cart = (msg.key() or b"").decode()
        ev = Event(type="ShippingQuoted", envelope="json", source="shipping-service",
                   occurred_at=time.time_ns() // 1000, event_id=str(uuid.UUID(int=self.quote_rng.getrandbits(128))),
                   version="1", subject=cart, causation_id=req.get("eventId"), correlation_id=f"corr-{cart}",
                   data={"cartId": cart, "carrier": "dhl", "priceCents": 590})
        value, headers = encode_records.event_value(ev, 0)
        self.shipping.send(self.ns + quotes.REPLY_TOPIC, cart, value, headers, event_id=ev.event_id)

    def quote_answered(self, msg: Any) -> None:
        answered = self.waiting.get(json.loads(msg.value()).get("causationId") or "")
        if answered is not None:
            answered.set()

    def dead_letter(self, msg: Any, group: str) -> None:
        """Spring's DeadLetterPublishingRecoverer: copy the record with its origin and error."""
        ts_type, ts_ms = msg.timestamp()
        origin = Record(topic=msg.topic(), partition=msg.partition(), key=None, timestamp=ts_ms * 1000,
                        offset=msg.offset())
        dl = DeadLetter(family="spring-dlt", origin=origin, group=group,
                        exception_class="org.springframework.kafka.listener.ListenerExecutionFailedException",
                        cause_class="java.lang.IllegalStateException",
                        exception_message="cannot render template: coupon code",
                        stacktrace="java.lang.IllegalStateException: cannot render template\n\tat shop.Email.render")
        rec = Record(topic=self.ns + ORDERS_DLT, partition=msg.partition(), key=None, timestamp=0, dead_letter=dl)
        headers = encode_records._dead_letter_headers(rec, 0)  # noqa: SLF001 (the offline encoder's exact headers)
        part, off = self.email.send(rec.topic, (msg.key() or b"").decode(), (msg.value() or b"").decode(),
                                    headers)
        self.report.dead_letters.append({"topic": rec.topic, "partition": part, "offset": off, "group": group,
                                         "origin_topic": msg.topic(), "origin_partition": msg.partition(),
                                         "origin_offset": msg.offset()})

    def issue_invoice(self, msg: Any, rec: tuple[str, int, int]) -> None:
        """Invoicing's side effect: no check whether this order was invoiced already."""
        key = (msg.key() or b"").decode()
        ev = Event(type="InvoiceIssued", envelope="cloudevents", source="/invoicing-service",
                   occurred_at=time.time_ns() // 1000, event_id=str(uuid.UUID(int=self.rng.getrandbits(128))),
                   version="1", subject=key, causation_id=f"{rec[0]}/{rec[1]}/{rec[2]}", data={"orderId": key})
        value, headers = encode_records.event_value(ev, 0)
        self.invoicing.send(self.ns + INVOICES, key, value, headers, event_id=ev.event_id)
        self.report.invoices[rec] += 1
        order_event = json.loads(msg.value()).get("eventId")
        if order_event:
            self.report.invoiced_events[order_event].add(rec)

    def _lag(self, groups: set[str]) -> dict[str, int]:
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
        from confluent_kafka.admin import AdminClient, OffsetSpec

        admin = AdminClient(self.conf)
        out: dict[str, int] = {}
        for g in sorted(groups):
            res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g].result(15)
            tps = [tp for tp in res.topic_partitions if tp.offset >= 0]
            if not tps:
                continue
            ends = admin.list_offsets({TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in tps})
            out[g] = sum(fut.result(15).offset for fut in ends.values()) - sum(tp.offset for tp in tps)
        return out


def run_live(*, bootstrap: str, telemetry: Telemetry, duration: float = 60.0, **kw: Any) -> LiveReport:
    """Run the live sample shop for `duration` seconds; see LiveRun."""
    return LiveRun(bootstrap=bootstrap, telemetry=telemetry, duration=duration, **kw).run()
