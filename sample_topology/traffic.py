"""User-facing traffic of the sample shop: checkouts, profile updates, sign-ups, enrolments.

Each request is a trace of sync calls that ends by publishing events. The incidents that
live in requests (the chain that grew, the synchronous email, the producer retry, the
poison order and the oversized payment) are switched on here, at times incidents.py sets.
"""

from __future__ import annotations

from typing import Any

from sample_topology import incidents as inc
from sample_topology.ops import Ids, Maker, arrivals, call, db, external, partition_for, produce, server
from sample_topology.plan import Event, Op, Plan, Record, Trace

RATES = {"checkout": 0.8, "profile": 0.08, "signup": 0.05, "enrollment": 0.04}  # requests per second
API_REPLICAS = 2


class Traffic:
    def __init__(self, plan: Plan, ids: Ids, times: inc.Times) -> None:
        self.plan, self.ids, self.times = plan, ids, times
        self.pods = {s: [ids.instance(s) for _ in range(API_REPLICAS)] for s in (
            "web-checkout", "orders-api", "accounts-api", "inventory-api", "payments-api", "pricing-api",
            "tax-api", "currency-rates", "loyalty-api", "email-service")}
        self.accounts = [f"acc-{ids.rng.randrange(10_000, 99_999)}" for _ in range(400)]
        self.order_no = 0
        self.poison_done = self.oversize_done = self.duplicate_done = False

    def pod(self, service: str) -> str:
        return self.ids.rng.choice(self.pods[service])

    def record(self, topic: str, key: str, event: Event) -> Record:
        rec = Record(topic, partition_for(key, self.plan.partitions[topic]), key, 0, event)
        self.plan.records.append(rec)
        return rec

    def trace(self, root: Op, kind: str, **facts: Any) -> Trace:
        t = Trace(self.ids.trace(), root)
        self.plan.traces.append(t)
        if facts:
            self.plan.facts.append({"kind": kind, "trace_id": t.trace_id, "at": root.start, **facts})
        return t

    def run(self) -> None:
        starts = sorted((at, kind) for kind, rate in RATES.items()
                        for at in arrivals(self.ids, rate, self.plan.duration))
        for at, kind in starts:
            getattr(self, kind)(at)

    # -- requests ---------------------------------------------------------------------------
    def checkout(self, t0: int) -> None:
        ids, rng, times = self.ids, self.ids.rng, self.times
        self.order_no += 1
        order_id = f"ord-{self.order_no:06d}"
        account = rng.choice(self.accounts)
        currency = "EUR" if rng.random() < 0.8 else rng.choice(["GBP", "USD", "CHF"])
        business = rng.random() < 0.1
        total = round(rng.uniform(8, 400), 2)
        request_id, checkout_id = ids.uuid(), ids.uuid()
        deep = currency != "EUR" and t0 >= times.deep_chain_from
        sync_email = times.sync_email_from <= t0 < times.sync_email_to
        poison = not self.poison_done and t0 >= times.poison_at and not business
        oversize = not self.oversize_done and t0 >= times.oversize_at
        self.poison_done |= poison
        self.oversize_done |= oversize
        web, orders, pay = self.pod("web-checkout"), self.pod("orders-api"), self.pod("payments-api")

        tax_inner: list[Maker] = [db(ids, "tax-api", "", "SELECT", "tax_rates")]
        if deep:
            rates = self.pod("currency-rates")
            tax_inner.append(call(ids, "tax-api", "", "currency-rates", rates, "GET", "/rates/{currency}",
                                  f"/rates/{currency}", [external(ids, "currency-rates", rates, "GET", "fx-provider",
                                                                  f"/v1/latest?base={currency}", 25, 90)]))
        pricing = self.pod("pricing-api")
        paid = Event("PaymentCaptured", "cloudevents", "/payments-api", 0, ids.uuid(), "2", request_id,
                     checkout_id, order_id,
                     {"orderId": order_id, "amount": 99_999_999_999.99 if oversize else total, "currency": currency,
                      "method": rng.choice(["card", "card", "paypal", "sepa"])})
        pay_rec = self.record("shop.payments", order_id, paid)
        created = Event("OrderCreated", "json", "orders-api", 0, ids.uuid(), "1", request_id, checkout_id, order_id,
                        {"orderId": order_id, "accountId": account, "email": None if poison else f"{account}@mail.example",
                         "currency": currency, "total": total, "business": business,
                         "lines": rng.randint(1, 6)})
        order_rec = self.record("shop.orders", order_id, created)
        orders_inner: list[Maker] = [
            call(ids, "orders-api", orders, "accounts-api", self.pod("accounts-api"), "GET", "/accounts/{id}",
                 f"/accounts/{account}", [db(ids, "accounts-api", "", "SELECT", "accounts", semconv="old")],
                 server_semconv="old"),
            call(ids, "orders-api", orders, "pricing-api", pricing, "POST", "/quotes", "/quotes",
                 [db(ids, "pricing-api", pricing, "SELECT", "prices"),
                  call(ids, "pricing-api", pricing, "tax-api", self.pod("tax-api"), "GET", "/tax/rates",
                       "/tax/rates", tax_inner)]),
            call(ids, "orders-api", orders, "inventory-api", self.pod("inventory-api"), "POST", "/reservations",
                 "/reservations", [db(ids, "inventory-api", "", "UPDATE", "stock", semconv="old")],
                 server_semconv="old", client_semconv="old"),
            call(ids, "orders-api", orders, "payments-api", pay, "POST", "/payments", "/payments",
                 [db(ids, "payments-api", pay, "INSERT", "payments"), produce(ids, "payments-api", pay, pay_rec)],
                 work=(20, 120)),
            db(ids, "orders-api", orders, "INSERT", "orders"),
            produce(ids, "orders-api", orders, order_rec),
        ]
        if business:
            cmd = Event("CreateInvoice", "json", "orders-api", 0, ids.uuid(), "1", request_id, checkout_id, order_id,
                        {"orderId": order_id, "accountId": account, "total": total, "terms": "net-30"})
            orders_inner.append(produce(ids, "orders-api", orders, self.record("shop.create-invoice", order_id, cmd)))
        web_inner: list[Maker] = [call(ids, "web-checkout", web, "orders-api", orders, "POST", "/orders", "/orders",
                                       orders_inner, status=201)]
        if sync_email:
            mail = self.pod("email-service")
            web_inner.append(call(ids, "web-checkout", web, "email-service", mail, "POST", "/emails", "/emails",
                                  [db(ids, "email-service", mail, "INSERT", "sent_emails"),
                                   external(ids, "email-service", mail, "POST", "smtp-relay", "/v3/mail/send",
                                            120, 480)], status=202))
        root = server(ids, "web-checkout", web, "POST", "/checkout", "/checkout", t0, web_inner, status=201)
        _fill_instances(root)
        for ev, rec in ((paid, pay_rec), (created, order_rec)):
            ev.occurred_at = rec.timestamp
        self.trace(root, "checkout", order_id=order_id, account=account, currency=currency,
                           business=business, deep=deep, sync_email=sync_email, poison=poison, oversize=oversize,
                           order_event=created.event_id, payment_event=paid.event_id,
                           order_record=order_rec, payment_record=pay_rec)
        if business:
            cmd.occurred_at = order_rec.timestamp

    def profile(self, t0: int) -> None:
        ids = self.ids
        account = ids.rng.choice(self.accounts)
        pod = self.pod("accounts-api")
        dup = not self.duplicate_done and t0 >= self.times.duplicate_at
        self.duplicate_done |= dup
        ev = Event("ProfileUpdated", "avro", "accounts-api", 0, ids.uuid(), "1", ids.uuid(), ids.uuid(), account,
                   {"accountId": account, "changed": ids.rng.sample(["address", "phone", "name", "marketing"], 2)})
        rec = self.record("shop.accounts", account, ev)
        first = None
        if dup:
            first = Record(rec.topic, rec.partition, rec.key, 0, ev)
            self.plan.records.append(first)
        root = server(ids, "accounts-api", pod, "PUT", "/accounts/{id}/profile", f"/accounts/{account}/profile", t0,
                      [db(ids, "accounts-api", pod, "UPDATE", "accounts", semconv="old",
                          statement="UPDATE accounts SET profile = $1 WHERE id = $2"),
                       produce(ids, "accounts-api", pod, rec, semconv="old", retry_of=first)], semconv="old")
        ev.occurred_at = (first or rec).timestamp
        self.trace(root, "duplicate_publish" if dup else "profile", **(
            {"event_id": ev.event_id, "records": [first, rec]} if dup else {}))

    def signup(self, t0: int) -> None:
        ids = self.ids
        account = f"acc-{ids.rng.randrange(100_000, 999_999)}"
        pod = self.pod("accounts-api")
        ev = Event("SendWelcomeEmail", "json", "accounts-api", 0, ids.uuid(), "1", ids.uuid(), ids.uuid(), account,
                   {"accountId": account, "email": f"{account}@mail.example", "template": "welcome-v3"})
        rec = self.record("shop.send-welcome-email", account, ev)
        root = server(ids, "accounts-api", pod, "POST", "/accounts", "/accounts", t0,
                      [db(ids, "accounts-api", pod, "INSERT", "accounts", semconv="old"),
                       produce(ids, "accounts-api", pod, rec, semconv="old")], semconv="old", status=201)
        ev.occurred_at = rec.timestamp
        self.trace(root, "signup")

    def enrollment(self, t0: int) -> None:
        ids = self.ids
        member = f"mem-{ids.rng.randrange(100_000, 999_999)}"
        pod = self.pod("loyalty-api")
        # the legacy loyalty service sends a bare payload: no id, no version, no time
        ev = Event("EnrollmentCompleted", "bare", "loyalty-api", 0, data={
            "memberId": member, "tier": self.ids.rng.choice(["silver", "gold"]), "points": 0})
        rec = self.record("shop.loyalty", member, ev)
        root = server(ids, "loyalty-api", pod, "POST", "/loyalty/enrollments", "/loyalty/enrollments", t0,
                      [db(ids, "loyalty-api", pod, "INSERT", "members"), produce(ids, "loyalty-api", pod, rec)],
                      status=201)
        ev.occurred_at = rec.timestamp
        self.trace(root, "enrollment")


def _fill_instances(root: Op) -> None:
    """Children built before their server's pod was known inherit the pod of their parent span."""
    def walk(op: Op, inst: str) -> None:
        if not op.instance:
            op.instance = inst
        for c in op.children:
            walk(c, op.instance if c.service == op.service else c.instance)
    walk(root, root.instance)
