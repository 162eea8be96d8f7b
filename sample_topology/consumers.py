"""Consumer groups as queues: each instance takes its partitions' records in arrival order.

An instance processes one record at a time (start = max(arrival, when it is free)) and
commits after each record, or every `commit_every` µs (auto-commit). Disruptions stop an
instance: after a restart the new instance re-reads from the committed offsets, so every
processing whose commit had not happened (or was lost in a rebalance) is redelivered; a
hung instance stops processing and committing but stays in the group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sample_topology.ops import MS, Ids
from sample_topology.plan import Commit, Op, Ownership, Plan, Record, Trace

Handler = Callable[[Record, int, str], tuple[list[Op], int]]  # (record, start, instance) → ops, end


@dataclass(frozen=True)
class Disruption:
    after: int  # the instance stops right after the first (matching) processing that ends at/after this
    downtime: int | None  # until the next instance runs; None: the instance hangs on its next record
    lost: int = 0  # commits of the last `lost` processings are lost too (commit failed in a rebalance)
    when: Callable[[list[Op]], bool] | None = None
    reason: str = "restart"


@dataclass
class _Done:
    topic: str
    partition: int
    offset: int
    end: int
    commit_at: int
    lost: bool = False


@dataclass(frozen=True)
class GroupSpec:
    name: str
    service: str
    topics: tuple[str, ...]
    instances: int
    links: bool  # confluent-kafka style: the process span links to the producer; else its parent
    commit_every: int = 0  # µs; 0 commits after every record


def assign(topics: tuple[str, ...], partitions: dict[str, int], instances: int) -> list[list[tuple[str, int]]]:
    """Kafka's range assignor: per topic, contiguous partition ranges, the first members get one more."""
    slots: list[list[tuple[str, int]]] = [[] for _ in range(instances)]
    for topic in topics:
        n = partitions[topic]
        per, extra = divmod(n, instances)
        p = 0
        for i in range(instances):
            for _ in range(per + (1 if i < extra else 0)):
                slots[i].append((topic, p))
                p += 1
    return slots


def run_group(plan: Plan, ids: Ids, spec: GroupSpec, handler: Handler,
              disruptions: dict[int, list[Disruption]] | None = None) -> None:
    """Simulate one group over the plan's records; adds traces, commits, ownership and facts."""
    by_tp: dict[tuple[str, int], list[Record]] = {}
    for r in plan.records:
        if r.topic in spec.topics:
            by_tp.setdefault((r.topic, r.partition), []).append(r)
    for recs in by_tp.values():
        recs.sort(key=lambda r: r.offset)
    plan.groups[spec.name] = spec.topics
    for slot, tps in enumerate(assign(spec.topics, plan.partitions, spec.instances)):
        _run_slot(plan, ids, spec, handler, tps, by_tp, sorted((disruptions or {}).get(slot, []),
                                                               key=lambda d: d.after))


def _run_slot(plan: Plan, ids: Ids, spec: GroupSpec, handler: Handler, tps: list[tuple[str, int]],
              by_tp: dict[tuple[str, int], list[Record]], disruptions: list[Disruption]) -> None:
    inst, owned_from = ids.instance(spec.service), 0
    pos = {tp: 0 for tp in tps}
    free = 0
    done: list[_Done] = []
    pending = list(disruptions)
    phase = ids.ms(0, 5000) if spec.commit_every else 0
    while True:
        best: tuple[int, int, tuple[str, int]] | None = None
        for tp in tps:
            recs = by_tp.get(tp, [])
            if pos[tp] < len(recs):
                r = recs[pos[tp]]
                key = (max(r.timestamp + 3 * MS, free), r.timestamp, tp)
                if best is None or key < best:
                    best = key
        if best is None or best[0] >= plan.duration:
            break
        start, _, tp = best
        rec = by_tp[tp][pos[tp]]
        d = pending[0] if pending else None
        if d is not None and d.downtime is None and start >= d.after:
            plan.facts.append({"kind": "hang", "group": spec.name, "instance": inst, "at": start,
                               "record": rec, "partitions": list(tps)})
            break
        start += ids.ms(0.5, 3.0)  # poll and deserialise
        ops, end = handler(rec, start, inst)
        if end >= plan.duration:
            break  # still running when the scenario ends: no span was exported yet
        _add_traces(plan, ids, spec, rec, ops)
        commit_at = end + MS if not spec.commit_every else ((end - phase) // spec.commit_every + 1) * spec.commit_every + phase
        done.append(_Done(tp[0], tp[1], rec.offset, end, commit_at))
        pos[tp] += 1
        free = end
        if d is not None and d.downtime is not None and end >= d.after and (d.when is None or d.when(ops)):
            pending.pop(0)
            stop = end + MS
            lost = [x for x in done if x.commit_at > stop and not x.lost]
            for x in done[-d.lost:] if d.lost else []:
                if x not in lost:
                    lost.append(x)
            for x in lost:
                x.lost = True
                pos[(x.topic, x.partition)] = min(pos[(x.topic, x.partition)], x.offset)
            new = ids.instance(spec.service)
            for t, p in tps:
                plan.ownership.append(Ownership(spec.name, t, p, inst, owned_from, stop))
            plan.facts.append({"kind": d.reason, "group": spec.name, "at": stop, "instance": inst,
                               "new_instance": new, "resumed_at": stop + d.downtime,
                               "redelivered": sorted((x.topic, x.partition, x.offset) for x in lost)})
            inst, owned_from, free = new, stop + d.downtime, stop + d.downtime
    for t, p in tps:
        plan.ownership.append(Ownership(spec.name, t, p, inst, owned_from, None))
    last: dict[tuple[str, int, int], int] = {}
    for x in done:
        if not x.lost and x.commit_at < plan.duration:
            k = (x.topic, x.partition, x.commit_at)
            last[k] = max(last.get(k, 0), x.offset + 1)
    plan.commits.extend(Commit(spec.name, t, p, off, at) for (t, p, at), off in sorted(last.items(), key=lambda kv: kv[0][2]))


def _add_traces(plan: Plan, ids: Ids, spec: GroupSpec, rec: Record, ops: list[Op]) -> None:
    for op in ops:
        if spec.links or rec.producer_span is None:
            op.link = rec.producer_span
            plan.traces.append(Trace(ids.trace(), op))
        else:
            plan.traces.append(Trace(rec.producer_span[0], op, parent_span=rec.producer_span[1]))
