"""Commit, then publish, in the sample shop: loyalty redemptions that publish too early, refunds that do not.

loyalty-api's points redemption publishes PointsRedeemed, then updates the member's balance
and commits. A redemption the balance cannot cover fails its UPDATE (a check constraint), rolls
back and answers 409, but its event is already out: every redemption publishes before its
commit (PUBLISH_BEFORE_COMMIT) and each failed one is a phantom event (PHANTOM_EVENT).

payments-api's refunds are the healthy look-alike: they write, commit, then publish
RefundIssued; a refund whose INSERT fails rolls back, answers 500 and publishes nothing.

Its choices come from a generator of its own, so the shop's other traffic and incidents stay
exactly what they were.
"""

from __future__ import annotations

from sample_topology.ops import Ids, Maker, arrivals, db, partition_for, produce, server
from sample_topology.plan import Event, Op, Plan, Record, Trace

POINTS_TOPIC = "shop.points"
REFUNDS_TOPIC = "shop.refunds"
REDEEM_RATE = 0.02  # redemptions per second
REFUND_RATE = 0.02  # refunds per second
REDEEM_FAILS = 0.2  # share of redemptions the balance cannot cover
REFUND_FAILS = 0.1  # share of refunds whose INSERT fails
SEED_OFFSET = 0x7C0  # this incident's generator: the scenario's seed plus this
POINTS_SHORT = "ERROR: new row for relation \"members\" violates check constraint \"points_nonnegative\""
REFUND_DUPLICATE = "ERROR: duplicate key value violates unique constraint \"refunds_payment_id_key\""


def _tx(ids: Ids, service: str, instance: str, statement: str) -> Maker:
    """COMMIT or ROLLBACK: a DB span named by its statement alone."""
    def make(t: int) -> Op:
        return Op("db", service, instance, statement, t, t + ids.ms(0.3, 1.5), ids.span(), db_system="postgresql",
                  db_operation=statement, statement=statement)
    return make


def _failing(make: Maker, error: str) -> Maker:
    def wrapped(t: int) -> Op:
        op = make(t)
        op.error = error
        return op
    return wrapped


class Transactions:
    def __init__(self, plan: Plan, seed: int, pods: dict[str, list[str]]) -> None:
        self.plan, self.ids, self.pods = plan, Ids(seed + SEED_OFFSET), pods

    def run(self) -> None:
        for rate, request in ((REDEEM_RATE, self._redeem), (REFUND_RATE, self._refund)):
            for t0 in arrivals(self.ids, rate, self.plan.duration):
                request(t0)

    def _record(self, topic: str, key: str, event: Event) -> Record:
        rec = Record(topic, partition_for(key, self.plan.partitions[topic]), key, 0, event)
        self.plan.records.append(rec)
        return rec

    def _redeem(self, t0: int) -> None:
        ids, svc = self.ids, "loyalty-api"
        pod = ids.rng.choice(self.pods[svc])
        member = f"mem-{ids.rng.randrange(100_000, 999_999)}"
        points = ids.rng.randrange(100, 5_000)
        fails = ids.rng.random() < REDEEM_FAILS
        ev = Event("PointsRedeemed", "json", svc, 0, ids.uuid(), "1", ids.uuid(), ids.uuid(), member,
                   {"memberId": member, "points": points, "reward": ids.rng.choice(["voucher", "upgrade", "gift"])})
        rec = self._record(POINTS_TOPIC, member, ev)
        update = db(ids, svc, pod, "UPDATE", "members",
                    statement="UPDATE members SET points = points - $1 WHERE id = $2")
        inner: list[Maker] = [db(ids, svc, pod, "SELECT", "members"), produce(ids, svc, pod, rec)]
        inner += [_failing(update, POINTS_SHORT), _tx(ids, svc, pod, "ROLLBACK")] if fails else [
            update, _tx(ids, svc, pod, "COMMIT")]
        root = server(ids, svc, pod, "POST", "/loyalty/redemptions", "/loyalty/redemptions", t0, inner,
                      status=409 if fails else 201)
        ev.occurred_at = rec.timestamp
        self._trace(root, "points_redeemed", record=rec, failed=fails)

    def _refund(self, t0: int) -> None:
        ids, svc = self.ids, "payments-api"
        pod = ids.rng.choice(self.pods[svc])
        payment = f"pay-{ids.rng.randrange(100_000, 999_999)}"
        fails = ids.rng.random() < REFUND_FAILS
        insert = db(ids, svc, pod, "INSERT", "refunds")
        inner: list[Maker] = [db(ids, svc, pod, "SELECT", "payments")]
        rec = None
        if fails:
            inner += [_failing(insert, REFUND_DUPLICATE), _tx(ids, svc, pod, "ROLLBACK")]
        else:
            ev = Event("RefundIssued", "json", svc, 0, ids.uuid(), "1", ids.uuid(), ids.uuid(), payment,
                       {"paymentId": payment, "amount": round(ids.rng.uniform(5, 300), 2)})
            rec = self._record(REFUNDS_TOPIC, payment, ev)
            inner += [insert, _tx(ids, svc, pod, "COMMIT"), produce(ids, svc, pod, rec)]
        root = server(ids, svc, pod, "POST", "/refunds", "/refunds", t0, inner, status=500 if fails else 201)
        if fails:
            root.error = f"org.postgresql.util.PSQLException: {REFUND_DUPLICATE}"
        elif rec is not None and rec.event is not None:
            rec.event.occurred_at = rec.timestamp
        self._trace(root, "refund", record=rec, failed=fails)

    def _trace(self, root: Op, kind: str, **facts: object) -> None:
        trace = Trace(self.ids.trace(), root)
        self.plan.traces.append(trace)
        self.plan.facts.append({"kind": kind, "trace_id": trace.trace_id, "at": root.start, **facts})
