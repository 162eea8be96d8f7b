"""The sample shop's scenario: traffic, then every consumer group, as one seeded Plan."""

from __future__ import annotations

from collectors.topology import Topology, load_topology
from sample_topology import TOPOLOGY_FILE, address_checks, parcels, quotes, transactions
from sample_topology import incidents as inc
from sample_topology.consumers import Disruption, GroupSpec, run_group
from sample_topology.handlers import Handlers
from sample_topology.ops import SEC, Ids
from sample_topology.plan import PRODUCE, Op, Plan
from sample_topology.traffic import Traffic

# Topics that exist on the cluster but not in the declared topology.
UNDECLARED_TOPICS = {"shop.send-welcome-email": 2}

GROUPS = (
    GroupSpec("email", "email-service", ("shop.orders", "shop.send-welcome-email"), 2, links=True),
    GroupSpec("analytics", "analytics-service", ("shop.orders", "shop.payments", "shop.accounts", "shop.loyalty"),
              1, links=True),
    GroupSpec("fulfillment", "fulfillment-service", ("shop.orders",), 2, links=False),
    GroupSpec("reporting", "reporting-service", ("shop.orders", "shop.payments"), 1, links=False,
              commit_every=5 * SEC),
    GroupSpec("invoicing", "invoicing-service", ("shop.orders", "shop.create-invoice"), 2, links=True),
    GroupSpec("connect-warehouse-sink", "warehouse-sink", ("shop.payments",), 1, links=True),
    # last, so that the groups above draw exactly what they drew before this incident existed
    GroupSpec(quotes.RESPONDER, "shipping-service", (quotes.REQUEST_TOPIC,), 1, links=False),
    GroupSpec(quotes.READER, "web-checkout", (quotes.REPLY_TOPIC,), 1, links=False),
    GroupSpec(address_checks.RESPONDER, "address-service", (address_checks.REQUEST_TOPIC,), 1, links=True),
    GroupSpec(parcels.GROUP, "tracking-service", (parcels.TOPIC,), 3, links=True),
)


def _writes(ops: list[Op]) -> bool:
    return any(c.db_operation == "INSERT" for op in ops for c in op.children)


def build_plan(seed: int = 7, minutes: int = 30, topology: Topology | None = None) -> Plan:
    """Everything that happens in `minutes` of the sample shop, decided by `seed` alone."""
    topo = topology or load_topology(TOPOLOGY_FILE)
    plan = Plan(seed=seed, minutes=minutes, duration=minutes * 60 * SEC)
    plan.partitions = {t.name: t.partitions for t in topo.topics.values()} | UNDECLARED_TOPICS
    ids = Ids(seed)
    times = inc.Times.for_duration(plan.duration)
    traffic = Traffic(plan, ids, times)
    traffic.run()
    shipping_quotes = quotes.ShippingQuotes(plan, seed, traffic.pods["web-checkout"])
    shipping_quotes.run()
    transactions.Transactions(plan, seed, traffic.pods).run()
    checks = address_checks.AddressChecks(plan, seed, traffic.pods["accounts-api"])
    checks.run()
    scans = parcels.Parcels(plan, seed)
    scans.run()
    assign_offsets(plan)
    link_records(plan)

    handlers = Handlers(plan, ids, times, traffic.pods["orders-api"])
    disruptions: dict[str, dict[int, list[Disruption]]] = {
        "invoicing": {0: [Disruption(times.invoicing_restart_at, 12 * SEC, lost=1, when=_writes,
                                     reason="restart")]},
        "email": {1: [Disruption(times.email_rebalance_at, 8 * SEC, lost=inc.EMAIL_LOST_COMMITS,
                                 reason="rebalance")]},
        "reporting": {0: [Disruption(at, backoff, reason="crash")
                          for at, backoff in zip(times.crash_times(), times.crash_backoffs, strict=False)]},
        "fulfillment": {1: [Disruption(times.fulfillment_stuck_at, None, reason="hang")]},
    }
    own = {quotes.RESPONDER: shipping_quotes.respond, quotes.READER: shipping_quotes.read_reply,
           address_checks.RESPONDER: checks.respond, parcels.GROUP: scans.track}
    for spec in GROUPS:
        handler = own.get(spec.name) or getattr(handlers, spec.name.replace("connect-", "").replace("-", "_"))
        # records an earlier group published (the shipping quotes' replies) get offsets and traces first
        assign_offsets(plan)
        link_records(plan)
        run_group(plan, ids, spec, handler, disruptions.get(spec.name))
    assign_offsets(plan)
    link_records(plan)
    plan.facts.append({"kind": "times", "times": times})
    return plan


def assign_offsets(plan: Plan) -> None:
    """The broker's part: records get offsets per partition in the order they were appended."""
    fresh: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(plan.records):
        if r.offset < 0:
            fresh.setdefault((r.topic, r.partition), []).append(i)
    taken: dict[tuple[str, int], int] = {}
    for r in plan.records:
        if r.offset >= 0:
            taken[(r.topic, r.partition)] = max(taken.get((r.topic, r.partition), 0), r.offset + 1)
    for tp, idx in fresh.items():
        idx.sort(key=lambda i: (plan.records[i].timestamp, i))
        for n, i in enumerate(idx, start=taken.get(tp, 0)):
            plan.records[i].offset = n


def link_records(plan: Plan) -> None:
    """Give each record the trace id of the span that produced it (its traceparent)."""
    owner: dict[str, str] = {}
    for trace in plan.traces:
        for op in trace.root.walk():
            if op.kind == PRODUCE:
                owner[op.span_id] = trace.trace_id
    for r in plan.records:
        if r.producer_span is not None and not r.producer_span[0]:
            r.producer_span = (owner[r.producer_span[1]], r.producer_span[1])
