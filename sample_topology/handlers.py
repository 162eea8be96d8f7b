"""What each consumer group does with a record: the child spans of its process span.

Email, analytics and reporting look the event id up before acting (a redelivery is
absorbed); invoicing writes and publishes every time (the non-idempotent consumer);
fulfillment asks orders-api for the order on every event (callback chatter) and turns slow
when those lookups do; the Kafka Connect sink leaves no spans and dead-letters one payment.
"""

from __future__ import annotations

from sample_topology import incidents as inc
from sample_topology.ops import SEC, Ids, Maker, call, db, external, partition_for, produce, seq
from sample_topology.plan import CONSUME, DeadLetter, Event, Op, Plan, Record

_SPRING_TRACE = """java.lang.IllegalArgumentException: customer email is missing
\tat com.shop.email.OrderMailer.recipient(OrderMailer.java:88)
\tat com.shop.email.OrderCreatedListener.onOrderCreated(OrderCreatedListener.java:41)
\tat org.springframework.kafka.listener.KafkaMessageListenerContainer$ListenerConsumer.doInvokeOnMessage(KafkaMessageListenerContainer.java:2869)"""
_CONNECT_TRACE = """org.apache.kafka.connect.errors.DataException: Cast of field 'amount' value 9.999999999999E10 to DECIMAL(12,2) overflows
\tat org.apache.kafka.connect.transforms.Cast.castValueToType(Cast.java:412)
\tat org.apache.kafka.connect.runtime.TransformationChain.apply(TransformationChain.java:50)"""


def process(ids: Ids, service: str, inst: str, group: str, rec: Record, start: int, makers: list[Maker], *,
            semconv: str = "new", error: str | None = None, attempt: int = 1) -> Op:
    children, end = seq(start + ids.ms(0.1, 0.4), makers, ids)
    return Op(CONSUME, service, inst, f"process {rec.topic}", start, end + ids.ms(0.2, 1.5), ids.span(), children,
              semconv=semconv, error=error, record=rec, group=group, attempt=attempt)


class Handlers:
    def __init__(self, plan: Plan, ids: Ids, times: inc.Times, orders_pods: list[str]) -> None:
        self.plan, self.ids, self.times, self.orders_pods = plan, ids, times, orders_pods
        self.seen: dict[str, set[str]] = {"email": set(), "analytics": set(), "reporting": set(),
                                           "fulfillment": set()}
        self.invoice_no = 0

    def _dedupe(self, group: str, rec: Record) -> bool:
        """True when the group already acted on this event (its lookup finds it)."""
        eid = rec.event.event_id if rec.event else None
        if eid is None:
            return False
        if eid in self.seen[group]:
            return True
        self.seen[group].add(eid)
        return False

    def email(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        ids, svc = self.ids, "email-service"
        lookup = db(ids, svc, inst, "SELECT", "sent_emails")
        ev = rec.event
        if ev is not None and ev.type == "OrderCreated" and ev.data.get("email") is None:
            return self._poison(rec, start, inst, lookup)
        makers = [lookup]
        if not self._dedupe("email", rec):
            makers += [db(ids, svc, inst, "INSERT", "sent_emails"),
                       external(ids, svc, inst, "POST", "smtp-relay", "/v3/mail/send", 120, 480)]
        op = process(ids, svc, inst, "email", rec, start, makers)
        return [op], op.end

    def _poison(self, rec: Record, start: int, inst: str, lookup: Maker) -> tuple[list[Op], int]:
        ids, svc = self.ids, "email-service"
        ops = []
        for attempt in range(1, inc.POISON_ATTEMPTS + 1):
            makers = [lookup]
            if attempt == inc.POISON_ATTEMPTS:
                dlt = Record("shop.orders.DLT", rec.partition, rec.key, 0, rec.event, dead_letter=DeadLetter(
                    "spring-dlt", rec, "email", "org.springframework.kafka.listener.ListenerExecutionFailedException",
                    "Listener method 'onOrderCreated' threw exception: customer email is missing",
                    _SPRING_TRACE, cause_class="java.lang.IllegalArgumentException"))
                self.plan.records.append(dlt)
                makers.append(produce(ids, svc, inst, dlt))
                self.plan.facts.append({"kind": "poison_message", "group": "email", "record": rec, "dlt": dlt,
                                        "instance": inst})
            op = process(ids, svc, inst, "email", rec, start, makers, error="java.lang.IllegalArgumentException: "
                         "customer email is missing", attempt=attempt)
            ops.append(op)
            start = op.end + SEC  # FixedBackOff(1000 ms)
        return ops, ops[-1].end

    def analytics(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        ids, svc = self.ids, "analytics-service"
        makers: list[Maker] = []
        if rec.event is not None and rec.event.event_id is not None:
            makers.append(db(ids, svc, inst, "SELECT", "events", system="clickhouse"))
        if not self._dedupe("analytics", rec):
            makers.append(db(ids, svc, inst, "INSERT", "events", system="clickhouse", lo=2, hi=9))
        op = process(ids, svc, inst, "analytics", rec, start, makers)
        return [op], op.end

    def fulfillment(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        ids, svc = self.ids, "fulfillment-service"
        order = rec.key or ""
        slow = start >= self.times.fulfillment_slow_from
        lo, hi = (s * 1000 for s in inc.FULFILLMENT_SLOW_SECONDS) if slow else (0.8, 6.0)
        pod = ids.rng.choice(self.orders_pods)
        makers = [call(ids, svc, inst, "orders-api", pod, "GET", "/orders/{id}", f"/orders/{order}",
                       [db(ids, "orders-api", pod, "SELECT", "orders", lo=lo, hi=hi)]),
                  db(ids, svc, inst, "SELECT", "shipments")]
        if not self._dedupe("fulfillment", rec):
            makers.append(db(ids, svc, inst, "INSERT", "shipments"))
        op = process(ids, svc, inst, "fulfillment", rec, start, makers)
        return [op], op.end

    def reporting(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        ids, svc = self.ids, "reporting-service"
        makers = [db(ids, svc, inst, "SELECT", "processed_events", semconv="old")]
        if not self._dedupe("reporting", rec):
            makers += [db(ids, svc, inst, "INSERT", "daily_sales", semconv="old",
                          statement="INSERT INTO daily_sales (day, orders, revenue) VALUES ($1, 1, $2) "
                                    "ON CONFLICT (day) DO UPDATE SET orders = daily_sales.orders + 1"),
                       db(ids, svc, inst, "INSERT", "processed_events", semconv="old")]
        op = process(ids, svc, inst, "reporting", rec, start, makers, semconv="old")
        return [op], op.end

    def invoicing(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        ids, svc = self.ids, "invoicing-service"
        ev = rec.event
        makers: list[Maker] = []
        if ev is not None and (ev.type == "CreateInvoice" or not ev.data.get("business")):
            # no lookup: a redelivered event issues a second invoice
            self.invoice_no += 1
            issued = Event("InvoiceIssued", "cloudevents", "/invoicing-service", 0, ids.uuid(), "1", ev.event_id,
                           ev.correlation_id, ev.subject,
                           {"invoiceId": f"inv-{self.invoice_no:06d}", "orderId": ev.data.get("orderId"),
                            "total": ev.data.get("total")})
            out = Record("shop.invoices", 0, ev.subject, 0, issued)
            out.partition = partition_for(out.key or "", self.plan.partitions["shop.invoices"])
            self.plan.records.append(out)
            makers += [db(ids, svc, inst, "INSERT", "invoices"), produce(ids, svc, inst, out)]
        op = process(ids, svc, inst, "invoicing", rec, start, makers)
        for c in op.children:
            if c.record is not None and c.record.event is not None:
                c.record.event.occurred_at = c.record.timestamp
        return [op], op.end

    def warehouse_sink(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        """Kafka Connect: no spans; a value the sink cannot cast goes to its DLQ."""
        end = start + self.ids.ms(1, 6)
        ev = rec.event
        if ev is not None and float(ev.data.get("amount") or 0) > 1e9:
            dlq = Record("warehouse-sink-dlq", 0, rec.key, end, ev, producer_span=rec.producer_span,
                         dead_letter=DeadLetter(
                             "connect", rec, "connect-warehouse-sink", "org.apache.kafka.connect.errors.DataException",
                             "Cast of field 'amount' value 9.999999999999E10 to DECIMAL(12,2) overflows",
                             _CONNECT_TRACE, connector="warehouse-sink", stage="TRANSFORMATION",
                             transform_class="org.apache.kafka.connect.transforms.Cast$Value"))
            self.plan.records.append(dlq)
            self.plan.facts.append({"kind": "connect_dead_letter", "group": "connect-warehouse-sink", "record": rec,
                                    "dlt": dlq})
        return [], end
