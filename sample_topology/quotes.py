"""The passive-aggressive event: web-checkout asks for a shipping quote by publishing an event.

The request publishes ShippingQuoteRequested, which only the shipping group consumes; shipping
answers with ShippingQuoted on a reply topic, which web-checkout consumes, and the request does
not answer the shopper until that reply has been read. An event with one consumer whose
producer waits for its answer is a request in disguise (PASSIVE_AGGRESSIVE_EVENT).

Its choices come from a generator of their own, so the shop's other traffic and incidents stay
exactly what they were.
"""

from __future__ import annotations

from sample_topology.handlers import process
from sample_topology.ops import Ids, arrivals, db, partition_for, produce, server
from sample_topology.plan import Event, Op, Plan, Record, Trace

REQUEST_TOPIC = "shop.shipping-quote-requested"
REPLY_TOPIC = "shop.shipping-quoted"
RESPONDER = "shipping"  # the one group consuming the requests
READER = "web-checkout-quotes"  # web-checkout's group reading the replies
RATE = 0.03  # quote requests per second
SEED_OFFSET = 0x51F  # this incident's generator: the scenario's seed plus this


class ShippingQuotes:
    def __init__(self, plan: Plan, seed: int, pods: list[str]) -> None:
        self.plan, self.ids, self.pods = plan, Ids(seed + SEED_OFFSET), pods
        self.waiting: dict[str, Op] = {}  # request event id -> the request still waiting for its reply

    def run(self) -> None:
        """The quote requests: each publishes its request and waits (its end is set when the reply is read)."""
        for t0 in arrivals(self.ids, RATE, self.plan.duration):
            self._request(t0)

    def _request(self, t0: int) -> None:
        ids = self.ids
        cart = f"cart-{ids.rng.randrange(100_000, 999_999)}"
        pod = ids.rng.choice(self.pods)
        ev = Event("ShippingQuoteRequested", "json", "web-checkout", 0, ids.uuid(), "1", ids.uuid(), ids.uuid(), cart,
                   {"cartId": cart, "country": ids.rng.choice(["DE", "FR", "NL", "AT"]),
                    "weightGrams": ids.rng.randrange(200, 9_000)})
        rec = Record(REQUEST_TOPIC, partition_for(cart, self.plan.partitions[REQUEST_TOPIC]), cart, 0, ev)
        self.plan.records.append(rec)
        root = server(ids, "web-checkout", pod, "POST", "/shipping-quotes", "/shipping-quotes", t0,
                      [produce(ids, "web-checkout", pod, rec)])
        ev.occurred_at = rec.timestamp
        trace = Trace(ids.trace(), root)
        self.plan.traces.append(trace)
        self.waiting[ev.event_id] = root
        self.plan.facts.append({"kind": "shipping_quote", "trace_id": trace.trace_id, "at": t0, "record": rec,
                                "event_id": ev.event_id})

    def respond(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        """The shipping group: price the parcel, publish the answer."""
        ids, req = self.ids, rec.event
        reply_ev = Event("ShippingQuoted", "json", "shipping-service", 0, ids.uuid(), "1", req.event_id,
                         req.correlation_id, req.subject,
                         {"cartId": req.subject, "carrier": ids.rng.choice(["dhl", "ups", "dpd"]),
                          "priceCents": ids.rng.randrange(390, 2_490)})
        reply = Record(REPLY_TOPIC, partition_for(rec.key or "", self.plan.partitions[REPLY_TOPIC]), rec.key, 0,
                       reply_ev)
        self.plan.records.append(reply)
        op = process(ids, "shipping-service", inst, RESPONDER, rec, start,
                      [db(ids, "shipping-service", inst, "SELECT", "rates"), produce(ids, "shipping-service", inst, reply)])
        reply_ev.occurred_at = reply.timestamp
        return [op], op.end

    def read_reply(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        """web-checkout reads the answer; the request it belongs to answers the shopper only now."""
        ids = self.ids
        op = process(ids, "web-checkout", inst, READER, rec, start, [db(ids, "web-checkout", inst, "SELECT", "carts")])
        request = self.waiting.pop(rec.event.causation_id, None)
        if request is not None:
            request.end = max(request.end, op.end + ids.ms(0.3, 2.0))
        return [op], op.end

