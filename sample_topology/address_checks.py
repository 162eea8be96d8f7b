"""Request–reply over topics in the sample shop: accounts-api checks an address by event and waits.

Changing a customer's address, accounts-api publishes AddressCheckRequested with Spring's
reply-to and correlation headers, and the handler then polls the reply topic until
address-service's AddressChecked answer arrives; only then does it answer the customer. A
synchronous call in disguise (REQUEST_REPLY_OVER_EVENTS): it has the latency of two hops
through the broker and a consumer group. Every other publication of the shop is fire and
forget, the healthy look-alike.

Its choices come from a generator of its own, so the shop's other traffic and incidents stay
exactly what they were.
"""

from __future__ import annotations

from sample_topology.handlers import process
from sample_topology.ops import Ids, arrivals, db, partition_for, produce, server
from sample_topology.plan import RECEIVE, Event, Op, Plan, Record, Trace

REQUEST_TOPIC = "shop.address-checks"
REPLY_TOPIC = "shop.address-checks.replies"
RESPONDER = "address-check"  # address-service's group answering the checks
REPLY_GROUP = "accounts-api-replies"  # the reply container the waiting handler polls with
RATE = 0.02  # address changes per second
SEED_OFFSET = 0xADD  # this incident's generator: the scenario's seed plus this


class AddressChecks:
    def __init__(self, plan: Plan, seed: int, pods: list[str]) -> None:
        self.plan, self.ids, self.pods = plan, Ids(seed + SEED_OFFSET), pods
        self.waiting: dict[str, Op] = {}  # request event id -> the handler waiting for its reply

    def run(self) -> None:
        for t0 in arrivals(self.ids, RATE, self.plan.duration):
            self._request(t0)

    def _request(self, t0: int) -> None:
        ids, svc = self.ids, "accounts-api"
        pod = ids.rng.choice(self.pods)
        account = f"acc-{ids.rng.randrange(10_000, 99_999)}"
        correlation = ids.uuid()
        ev = Event("AddressCheckRequested", "json", svc, 0, ids.uuid(), "1", ids.uuid(), correlation, account,
                   {"accountId": account, "country": ids.rng.choice(["DE", "FR", "NL", "AT"]),
                    "postcode": f"{ids.rng.randrange(10_000, 99_999)}"})
        rec = Record(REQUEST_TOPIC, partition_for(account, self.plan.partitions[REQUEST_TOPIC]), account, 0, ev,
                     headers=[("kafka_replyTopic", REPLY_TOPIC), ("kafka_correlationId", correlation)])
        self.plan.records.append(rec)
        # accounts-api's instrumentation writes the older attribute names, as in traffic.py
        root = server(ids, svc, pod, "PUT", "/accounts/{id}/address", f"/accounts/{account}/address", t0,
                      [db(ids, svc, pod, "SELECT", "accounts", semconv="old"),
                       produce(ids, svc, pod, rec, semconv="old")], semconv="old")
        ev.occurred_at = rec.timestamp
        trace = Trace(ids.trace(), root)
        self.plan.traces.append(trace)
        self.waiting[ev.event_id] = root
        self.plan.facts.append({"kind": "address_check", "trace_id": trace.trace_id, "at": t0, "record": rec})

    def respond(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        """address-service checks the address and answers on the reply topic; the waiting
        handler's poll reads the answer and only then does the request answer."""
        ids, req = self.ids, rec.event
        reply_ev = Event("AddressChecked", "json", "address-service", 0, ids.uuid(), "1", req.event_id,
                         req.correlation_id, req.subject,
                         {"accountId": req.subject, "valid": ids.rng.random() < 0.9})
        reply = Record(REPLY_TOPIC, partition_for(rec.key or "", self.plan.partitions[REPLY_TOPIC]), rec.key, 0,
                       reply_ev, headers=[("kafka_correlationId", req.correlation_id or "")])
        self.plan.records.append(reply)
        op = process(ids, "address-service", inst, RESPONDER, rec, start,
                     [db(ids, "address-service", inst, "SELECT", "postcodes"),
                      produce(ids, "address-service", inst, reply)])
        reply_ev.occurred_at = reply.timestamp
        handler = self.waiting.pop(req.event_id, None)
        if handler is not None:
            at = reply.timestamp + ids.ms(2, 30)  # the reply container's next poll
            poll = Op(RECEIVE, handler.service, handler.instance, f"poll {REPLY_TOPIC}", at, at + ids.ms(0.5, 2),
                      ids.span(), semconv="old", record=reply, group=REPLY_GROUP)
            handler.children.append(poll)
            handler.end = max(handler.end, poll.end + ids.ms(0.3, 2.0))
        return [op], op.end
