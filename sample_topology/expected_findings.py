"""Golden findings of the sample shop, derived from the same plan the simulator encodes.

`expected_findings(seed, minutes)` returns a JSON-ready dict; expected_findings.json beside
this module holds it for the default seed (7) and minutes (30), and a test keeps the two
equal. Regenerate with `python -m sample_topology.expected_findings > expected_findings.json`.
Times are seconds from the scenario's start (`*_s`), so the file holds for any start_us. In
a loaded store the start is exactly min(group_offsets.polled_at) − 15 s (the first snapshot),
or min(spans.start_time) floored to the minute.

Fields
- seed, minutes, duration_s, max_sync_depth: the scenario the file describes.
- findings: one entry per finding an analysis should raise, each with
  - rule: a docs/architecture.md#findings-and-rules rule id; severity: the level we expect (info | warning | error | critical);
  - incident: which deliberate incident it comes from (incidents.RULES keys, or "topology_drift");
  - subject_kind (service | endpoint | topic | group | trace | edge) and subject, as the Finding model has them;
  - count: the exact number the rule counts: LONG_SYNC_CHAIN and SYNC_SIDE_EFFECT traces;
    CONSUMER_LAG the group's total offset lag at its last not-OK snapshot; REDELIVERY messages
    (distinct topic/partition/offset) processed more than once; IDEMPOTENCY_VIOLATION event ids
    with more than one effectful processing; DUPLICATE_PUBLISH records sharing the event id;
    DEAD_LETTER dead-letter records; EVENT_AS_COMMAND and ENVELOPE_MISSING records of the type;
    CALLBACK_CHATTER processings that called the producer; PASSIVE_AGGRESSIVE_EVENT requests
    that waited for their reply; PUBLISH_BEFORE_COMMIT publications (PRODUCER spans) before
    their service's write or commit ended, PHANTOM_EVENT publications whose transaction or
    request then failed; REQUEST_REPLY_OVER_EVENTS requests whose handler waited for the
    correlated reply; OUT_OF_ORDER_PROCESSING events that overtook an earlier event of their
    entity; UNVERSIONED_SCHEMA_CHANGE records in a shape that removed a field or changed a
    type under an unchanged version; UNDECLARED_EDGE observations
    (calls, publications, commits); UNOBSERVED_EDGE 0;
  - first_seen_s / last_seen_s: seconds from start of the first and last evidence (span start or record time);
  - evidence: the ids to assert on: trace ids, (topic, partition, offset) triples as
    {"topic", "partition", "offset"}, event ids, instances, span ids, per-rule details.
- healthy: [{rule, subject_kind, subject}] that must have NO finding at warning or above.
  Note: dead-letter copies carry their origin's event id; they are not duplicate publications.
  CONSUMER_LAG statuses come from Burrow's rules, made stricter (see burrow.py), over the 15 s
  offset snapshots (window 10); healthy groups are OK under both readings of "lag increasing".
- totals: rows the simulator writes per store table and the trace-depth histogram.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

from collectors.topology import Topology, load_topology
from sample_topology import TOPOLOGY_FILE, burrow, quotes
from sample_topology import incidents as inc
from sample_topology.encode_records import group_snapshots, snapshot_times
from sample_topology.plan import CONSUME, DB, HTTP_CLIENT, HTTP_SERVER, PRODUCE, RECEIVE, Op, Plan, Record, Trace

WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COMMAND_VERBS = ("Create", "Send", "Update", "Delete", "Process", "Generate", "Notify", "Calculate", "Sync")


def _s(us: int) -> float:
    return round(us / 1e6, 3)


def _tpo(r: Record) -> dict[str, Any]:
    return {"topic": r.topic, "partition": r.partition, "offset": r.offset}


def _finding(rule: str, severity: str, incident: str, kind: str, subject: str, count: int, first: int, last: int,
             **evidence: Any) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "incident": incident, "subject_kind": kind, "subject": subject,
            "count": count, "first_seen_s": _s(first), "last_seen_s": _s(last), "evidence": evidence}


def _depth(op: Op) -> tuple[int, list[str]]:
    """Most sync hops below op, and the services along that path (docs/architecture.md#synchronous-call-chain-depth)."""
    best: tuple[int, list[str]] = (0, [])
    for c in op.children:
        if c.kind == CONSUME:
            continue
        d, path = _depth(c)
        if c.kind == HTTP_SERVER and op.kind == HTTP_CLIENT and c.service != op.service:
            d, path = d + 1, [c.service, *path]
        if d > best[0]:
            best = (d, path)
    return best


def _effects(op: Op) -> list[str]:
    """Side effects under a process span (docs/architecture.md#idempotency-violations)."""
    out = []
    for c in op.walk()[1:]:
        if c.kind == DB and (c.db_operation or "").upper() in WRITES:
            out.append(f"db {c.db_operation} {c.table}")
        elif c.kind == PRODUCE and c.record is not None:
            out.append(f"produce {c.record.topic}/{c.record.partition}/{c.record.offset}")
        elif c.kind == HTTP_CLIENT and c.method in UNSAFE and c.service == op.service:
            out.append(f"http {c.method} {c.peer}")
    return out


def _sync(plan: Plan, topo: Topology, times: inc.Times) -> list[dict[str, Any]]:
    out = []
    depth: dict[str, tuple[int, list[str], Trace]] = {}
    for t in plan.traces:
        d, path = _depth(t.root)
        if t.trace_id not in depth or d > depth[t.trace_id][0]:
            depth[t.trace_id] = (d, [t.root.service, *path], t)
    deep = sorted((tid, v) for tid, v in depth.items() if v[0] > topo.max_sync_depth)
    if deep:
        starts = [v[2].root.start for _, v in deep]
        out.append(_finding(
            "LONG_SYNC_CHAIN", "warning", "long_sync_chain", "endpoint", "web-checkout POST /checkout", len(deep),
            min(starts), max(starts), depth=max(v[0] for _, v in deep), limit=topo.max_sync_depth,
            path=deep[0][1][1], trace_ids=[tid for tid, _ in deep], since_s=_s(times.deep_chain_from)))
    side = {s.name for s in topo.services.values() if s.side_effect}
    hits: list[Trace] = []
    for t in plan.traces:
        if t.root.kind == HTTP_SERVER and any(
                op.kind == HTTP_CLIENT and c.kind == HTTP_SERVER and c.service in side
                for op in t.root.walk() for c in op.children):
            hits.append(t)
    if hits:
        out.append(_finding(
            "SYNC_SIDE_EFFECT", "warning", "sync_side_effect", "edge", "web-checkout -> email-service POST /emails",
            len(hits), min(t.root.start for t in hits), max(t.root.start for t in hits),
            caller="web-checkout", callee="email-service", route="POST /emails",
            trace_ids=sorted(t.trace_id for t in hits)))
    return out


_RANK = {"OK": 0, "WARN": 1, "STOP": 3, "STALL": 4, "REWIND": 5}
# The reporting consumer's crash loop leaves its group without members while messages wait:
# an error of its own under the stricter-than-Burrow rules, beside its redeliveries.
_LAG_INCIDENT = {"reporting": "crash_loop"}


def _lag(plan: Plan, times: inc.Times) -> tuple[list[dict[str, Any]], list[str]]:
    """CONSUMER_LAG as the analysis reports it: over the partitions' not-OK snapshots, worst first."""
    snaps = list(group_snapshots(plan))
    loose, strict = burrow.evaluate(snaps, strict=False), burrow.evaluate(snaps, strict=True)
    out, healthy = [], []
    for group in sorted(plan.groups):
        worst = {v for _, v, _ in loose[group]} | {v for _, v, _ in strict[group]}
        if worst == {"OK"}:
            healthy.append(group)
            continue
        bad = [(t, k, v) for t, _, parts in loose[group] for k, v in parts.items() if v != "OK"]
        first, last = min(t for t, _, _ in bad), max(t for t, _, _ in bad)
        parts_worst: dict[str, str] = {}
        first_at: dict[str, int] = {}
        for t, k, v in bad:
            if _RANK[v] > _RANK.get(parts_worst.get(k, "OK"), 0):
                parts_worst[k] = v
            first_at.setdefault(v, t)
        status = max(parts_worst.values(), key=_RANK.__getitem__)
        final = [s for s in snaps if s["group_id"] == group and s["at"] == last]
        first_err = min((t for v, t in first_at.items() if v != "WARN"), default=None)
        out.append(_finding(
            "CONSUMER_LAG", "warning" if status == "WARN" else "error", _LAG_INCIDENT.get(group, "slow_consumer"),
            "group", group,
            sum(s["high_watermark"] - s["committed_offset"] for s in final), first, last,
            status=burrow.group_level(status), first_warn_s=_s(first_at["WARN"]) if "WARN" in first_at else None,
            first_err_s=None if first_err is None else _s(first_err),
            warn_under_strict_rule=any(v == "WARN" for _, v, _ in strict[group]),
            slow_from_s=_s(times.fulfillment_slow_from), stuck_from_s=_s(times.fulfillment_stuck_at),
            partitions=dict(sorted(parts_worst.items())),
            final_lag={f"{s['topic']}/{s['partition']}": s["high_watermark"] - s["committed_offset"] for s in final}))
    return out, healthy


def _processings(plan: Plan) -> dict[tuple[str, str, int, int], list[Op]]:
    by_msg: dict[tuple[str, str, int, int], list[Op]] = {}
    for t in plan.traces:
        op = t.root
        if op.kind == CONSUME and op.record is not None and op.group:
            r = op.record
            by_msg.setdefault((op.group, r.topic, r.partition, r.offset), []).append(op)
    return by_msg


def _delivery(plan: Plan) -> tuple[list[dict[str, Any]], set[str], set[str]]:
    causes: dict[tuple[str, str, int, int], str] = {}
    for f in plan.facts:
        for topic, p, o in f.get("redelivered", []):
            causes[(f["group"], topic, p, o)] = f["kind"]
    out: list[dict[str, Any]] = []
    redelivering, violating = set(), set()
    by_msg = _processings(plan)
    per_group: dict[str, list[dict[str, Any]]] = {}
    for key, ops in sorted(by_msg.items()):
        if len(ops) < 2:
            continue
        ops.sort(key=lambda o: o.start)
        same = len({o.instance for o in ops}) == 1
        per_group.setdefault(key[0], []).append({
            "topic": key[1], "partition": key[2], "offset": key[3], "processings": len(ops),
            "instances": [o.instance for o in ops], "span_ids": [o.span_id for o in ops],
            "starts_s": [_s(o.start) for o in ops], "effects": [len(_effects(o)) for o in ops],
            "cause": causes.get(key, "blocking-retry" if same else "restart")})
    severity = {"reporting": "warning"}
    for group, msgs in sorted(per_group.items()):
        redelivering.add(group)
        kind = {"reporting": "crash_loop", "invoicing": "non_idempotent_consumer"}.get(group, "absorbed_redelivery")
        out.append(_finding(
            "REDELIVERY", severity.get(group, "info"), kind, "group", group, len(msgs),
            min(int(m["starts_s"][1] * 1e6) for m in msgs), max(int(m["starts_s"][-1] * 1e6) for m in msgs),
            messages=msgs, causes=dict(sorted(Counter(m["cause"] for m in msgs).items())),
            extra_processings=sum(m["processings"] - 1 for m in msgs),
            violations=sum(1 for m in msgs if sum(1 for e in m["effects"] if e) > 1),
            absorbed=sum(1 for m in msgs if sum(1 for e in m["effects"] if e) <= 1)))
    # duplicates by event id (a producer retry) count for idempotency too
    by_event: dict[tuple[str, str], list[Op]] = {}
    for (group, *_), ops in by_msg.items():
        for op in ops:
            if op.record is not None and op.record.event is not None and op.record.event.event_id:
                by_event.setdefault((group, op.record.event.event_id), []).append(op)
    violations: dict[str, list[dict[str, Any]]] = {}
    for (group, eid), ops in sorted(by_event.items()):
        effective = [o for o in ops if _effects(o)]
        if len(effective) > 1:
            violating.add(group)
            violations.setdefault(group, []).append({
                "event_id": eid, "messages": [{"topic": t, "partition": p, "offset": o} for t, p, o in sorted(
                    {(o.record.topic, o.record.partition, o.record.offset) for o in ops if o.record})],
                "processings": [{"span_id": o.span_id, "instance": o.instance, "start_s": _s(o.start),
                                 "effects": _effects(o)} for o in sorted(ops, key=lambda o: o.start)]})
    for group, vs in violations.items():
        caused = Counter(r.event.causation_id for r in plan.records if r.event and r.event.causation_id
                         and r.producer_span and any(r.event.causation_id == v["event_id"] for v in vs))
        starts = [int(p["start_s"] * 1e6) for v in vs for p in v["processings"]]
        out.append(_finding(
            "IDEMPOTENCY_VIOLATION", "error", "non_idempotent_consumer", "group", group, len(vs), min(starts),
            max(starts), violations=vs, claimed_idempotent=True,
            downstream_events_per_causation={k: n for k, n in sorted(caused.items()) if n > 1}))
    return out, redelivering, violating


def _records(plan: Plan) -> tuple[list[dict[str, Any]], set[str]]:
    out: list[dict[str, Any]] = []
    flagged: set[str] = set()
    live = [r for r in plan.records if r.dead_letter is None]
    by_id: dict[str, list[Record]] = {}
    for r in live:
        if r.event is not None and r.event.event_id:
            by_id.setdefault(r.event.event_id, []).append(r)
    for eid, recs in sorted(by_id.items()):
        if len(recs) > 1:
            flagged.add(recs[0].topic)
            out.append(_finding(
                "DUPLICATE_PUBLISH", "warning", "duplicate_publish", "topic", recs[0].topic, len(recs),
                min(r.timestamp for r in recs), max(r.timestamp for r in recs), event_id=eid,
                event_type=recs[0].event.type if recs[0].event else None, same_payload=True,
                records=[_tpo(r) for r in sorted(recs, key=lambda r: r.offset)],
                producer_trace_id=recs[0].producer_span[0] if recs[0].producer_span else None))
    processings = _processings(plan)
    for r in sorted((r for r in plan.records if r.dead_letter), key=lambda r: r.timestamp):
        dl = r.dead_letter
        assert dl is not None
        flagged.add(r.topic)
        origin_ops = processings.get((dl.group, dl.origin.topic, dl.origin.partition, dl.origin.offset), [])
        processed_later = any(not o.error for o in origin_ops)
        out.append(_finding(
            "DEAD_LETTER", "error", "poison_message" if dl.family == "spring-dlt" else "connect_dead_letter",
            "topic", r.topic, 1, r.timestamp, r.timestamp, record=_tpo(r), origin=_tpo(dl.origin), group=dl.group,
            family=dl.family, exception_class=dl.cause_class or dl.exception_class,
            exception_message=dl.exception_message,
            event_id=r.event.event_id if r.event else None, origin_processed_later=processed_later))
    by_type: dict[tuple[str, str], list[Record]] = {}
    for r in live:
        if r.event is not None:
            by_type.setdefault((r.topic, r.event.type), []).append(r)
    for (topic, etype), recs in sorted(by_type.items()):
        ts = [r.timestamp for r in recs]
        if etype.startswith(COMMAND_VERBS):
            flagged.add(topic)
            out.append(_finding("EVENT_AS_COMMAND", "warning", "event_as_command", "topic", topic, len(recs),
                                min(ts), max(ts), event_type=etype,
                                consumers=sorted(g for g, tps in plan.groups.items() if topic in tps)))
        missing = [f for f, v in (("event_id", recs[0].event.event_id), ("event_version", recs[0].event.version))
                   if v is None]
        if recs[0].event.envelope == "bare":
            missing.append("event_time")
        if missing:
            flagged.add(topic)
            out.append(_finding("ENVELOPE_MISSING", "warning", "envelope_missing", "topic", topic, len(recs),
                                min(ts), max(ts), event_type=etype, missing=missing))
    return out, flagged


def _chatter(plan: Plan) -> tuple[list[dict[str, Any]], set[str]]:
    producers = {}
    for t in plan.traces:
        for op in t.root.walk():
            if op.kind == PRODUCE and op.record is not None:
                producers[op.record.topic] = op.service
    stats: dict[tuple[str, str], list[Op]] = {}
    calls: dict[tuple[str, str], list[Op]] = {}
    for t in plan.traces:
        op = t.root
        if op.kind != CONSUME or op.record is None or not op.group:
            continue
        key = (op.group, op.record.topic)
        stats.setdefault(key, []).append(op)
        target = producers.get(op.record.topic)
        if any(c.kind == HTTP_CLIENT and c.peer == target for c in op.walk()):
            calls.setdefault(key, []).append(op)
    out, flagged = [], set()
    for (group, topic), ops in sorted(calls.items()):
        total = len(stats[(group, topic)])
        if len(ops) * 2 > total:
            flagged.add(group)
            out.append(_finding(
                "CALLBACK_CHATTER", "warning", "callback_chatter", "group", group, len(ops),
                min(o.start for o in ops), max(o.start for o in ops), topic=topic, producer=producers[topic],
                route="GET /orders/{id}", processings=total, ratio=round(len(ops) / total, 3)))
    return out, flagged


def _passive_aggressive(plan: Plan) -> list[dict[str, Any]]:
    """Quote requests whose reply web-checkout read while the request was still open."""
    replies: dict[str, Op] = {}  # request event id -> the processing that read its reply
    for t in plan.traces:
        op = t.root
        if op.kind == CONSUME and op.group == quotes.READER and op.record is not None and op.record.event:
            replies[op.record.event.causation_id] = op
    waited: list[tuple[int, str]] = []
    for f in plan.facts:
        if f["kind"] != "shipping_quote" or (reply := replies.get(f["event_id"])) is None:
            continue
        root = next(t.root for t in plan.traces if t.trace_id == f["trace_id"] and t.root.kind == HTTP_SERVER)
        if root.end >= reply.start:
            waited.append((reply.start, f["trace_id"]))
    if not waited:
        return []
    waited.sort()
    return [_finding("PASSIVE_AGGRESSIVE_EVENT", "warning", "passive_aggressive_event", "topic", quotes.REQUEST_TOPIC,
                     len(waited), waited[0][0], waited[-1][0], consumer_group=quotes.RESPONDER,
                     reply_topic=quotes.REPLY_TOPIC, trace_ids=[t for _, t in waited])]


def _segments(op: Op) -> list[list[Op]]:
    """The synchronous segments under op, op's own first: a consumer or a producer's child starts a new one."""
    own: list[Op] = []
    rest: list[list[Op]] = []
    stack = [op]
    while stack:
        o = stack.pop()
        own.append(o)
        for c in o.children:
            if c.kind == CONSUME or o.kind == PRODUCE:
                rest += _segments(c)
            else:
                stack.append(c)
    return [own, *rest]


def _commit_publish(plan: Plan) -> tuple[list[dict[str, Any]], set[str]]:
    """Publications before their service's write or COMMIT ended, and those whose transaction
    (a ROLLBACK, a failed write or COMMIT) or SERVER span then failed (docs/architecture.md#commit-then-publish)."""
    commits = WRITES | {"COMMIT", "REPLACE"}
    early: dict[str, list[tuple[int, str]]] = {}
    phantom: dict[str, list[tuple[int, str]]] = {}
    publishing: set[str] = set()
    for t in plan.traces:
        for seg in _segments(t.root):
            for p in (o for o in seg if o.kind == PRODUCE and o.record is not None):
                edge = f"{p.service} -> {p.record.topic}"
                publishing.add(edge)
                mine = [o for o in seg if o.service == p.service]
                dbs = [o for o in mine if o.kind == DB]
                if any((o.db_operation or "") in commits and o.end > p.start for o in dbs):
                    early.setdefault(edge, []).append((p.start, t.trace_id))
                failed_tx = any(o.end >= p.start and (o.db_operation == "ROLLBACK" or (
                    o.error and (o.db_operation or "") in commits)) for o in dbs)
                committed = any(o.db_operation == "COMMIT" and not o.error and o.end <= p.start for o in dbs)
                failed_server = any(o.kind == HTTP_SERVER and o.start <= p.start <= o.end and (
                    o.error or (o.status or 0) >= 500) for o in mine)
                if failed_tx or (failed_server and not committed):
                    phantom.setdefault(edge, []).append((p.start, t.trace_id))
    out = []
    for rule, severity, found in (("PUBLISH_BEFORE_COMMIT", "warning", early), ("PHANTOM_EVENT", "error", phantom)):
        for edge, hits in sorted(found.items()):
            hits.sort()
            out.append(_finding(rule, severity, rule.lower(), "edge", edge, len(hits), hits[0][0], hits[-1][0],
                                trace_ids=sorted(tid for _, tid in hits)))
    return out, publishing


def _handled(server: Op) -> list[Op]:
    """The spans a SERVER span's handler reaches without crossing a PRODUCER, CONSUMER or another SERVER span."""
    out, stack = [], list(server.children)
    while stack:
        o = stack.pop()
        if o.kind == HTTP_SERVER:
            continue
        out.append(o)
        if o.kind not in (PRODUCE, CONSUME, RECEIVE):
            stack.extend(o.children)
    return out


_REPLY_TO = ("kafka_replytopic", "reply-to", "reply_to", "replyto")


def _request_reply(plan: Plan) -> tuple[list[dict[str, Any]], set[str]]:
    """Handlers that published and then read a correlated reply on another topic before answering
    (docs/architecture.md#request-reply-over-events)."""
    sent_in: dict[str, set[str]] = {}  # trace id -> topics published in it
    for t in plan.traces:
        for op in t.root.walk():
            if op.kind == PRODUCE and op.record is not None:
                sent_in.setdefault(t.trace_id, set()).add(op.record.topic)
    found: dict[str, list[tuple[int, str, float]]] = {}
    publishing: set[str] = set()
    for t in plan.traces:
        for s in (o for o in t.root.walk() if o.kind == HTTP_SERVER):
            mine = [o for o in _handled(s) if o.service == s.service]
            for p in (o for o in mine if o.kind == PRODUCE and o.record is not None):
                publishing.add(f"{s.service} {s.name}")
                req = p.record
                replies = sorted((o for o in mine if o.kind in (RECEIVE, CONSUME) and o.record is not None
                                  and o.record.topic != req.topic and o.start >= p.start and s.end >= o.end),
                                 key=lambda o: o.end)
                for r in replies:
                    rep = r.record
                    by_header = any(k.lower() in _REPLY_TO and v == rep.topic for k, v in req.headers)
                    by_ids = bool(req.event and rep.event and (
                        (req.event.correlation_id and req.event.correlation_id == rep.event.correlation_id)
                        or (req.event.event_id and rep.event.causation_id == req.event.event_id)))
                    if by_header or by_ids or rep.topic in sent_in.get(t.trace_id, set()):
                        key = f"{s.service} {s.name}\t{req.topic}\t{rep.topic}"
                        found.setdefault(key, []).append((p.start, t.trace_id, (r.end - p.start) / 1e3))
                        break
    out = []
    for key, hits in sorted(found.items()):
        subject, request_topic, reply_topic = key.split("\t")
        hits.sort()
        waits = sorted(w for _, _, w in hits)
        out.append(_finding("REQUEST_REPLY_OVER_EVENTS", "warning", "request_reply_over_events", "endpoint", subject,
                            len(hits), hits[0][0], hits[-1][0], request_topic=request_topic, reply_topic=reply_topic,
                            max_wait_ms=round(waits[-1], 3), trace_ids=sorted(tid for _, tid, _ in hits)))
    return out, publishing


def _out_of_order(plan: Plan) -> tuple[list[dict[str, Any]], set[str]]:
    """Per group and topic, events of one entity (the CloudEvents subject, else the key) processed in an
    order other than the one they were produced in (docs/architecture.md#out-of-order-processing)."""
    done: dict[tuple[str, str, int, int], list[Op]] = _processings(plan)
    rows: dict[tuple[str, str, str], list[tuple[Record, int, list[Op]]]] = {}
    for (group, topic, _p, _o), ops in done.items():
        rec = ops[0].record
        ok = [o.start for o in ops if not o.error]
        processed = max(ok) if ok else max(o.start for o in ops)
        subject = rec.event.subject if rec.event is not None and rec.event.envelope == "cloudevents" else None
        entity = subject or rec.key
        if entity is not None:
            rows.setdefault((group, topic, entity), []).append((rec, processed, ops))
    found: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for (group, topic, _entity), evs in sorted(rows.items()):
        for a, pa, ops_a in evs:
            for b, pb, _ in evs:
                before = a.offset < b.offset if a.partition == b.partition else a.timestamp < b.timestamp
                if before and pb < pa:
                    cause = ("key changed" if a.key != b.key else "different partition") if a.partition != b.partition \
                        else "retry" if any(o.error for o in ops_a) else "redelivery" if len(ops_a) > 1 else "unknown"
                    found.setdefault((group, topic), []).append((pb, f"{b.partition}/{b.offset}", cause))
    out = []
    for (group, topic), hits in sorted(found.items()):
        overtaking = sorted({(at, pos) for at, pos, _ in hits})
        out.append(_finding("OUT_OF_ORDER_PROCESSING", "warning", "out_of_order_processing", "group", group,
                            len(overtaking), overtaking[0][0], overtaking[-1][0], topic=topic,
                            causes=dict(sorted(Counter(c for _, _, c in hits).items()))))
    return out, {g for g, *_ in done}


def _json_shape(value: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in value.items():
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out[path] = "object"
            out.update(_json_shape(v, path))
        else:
            out[path] = ("array" if isinstance(v, list) else "boolean" if isinstance(v, bool)
                         else "number" if isinstance(v, (int, float)) else "null" if v is None else "string")
    return out


def _schema_changes(plan: Plan) -> list[dict[str, Any]]:
    """Versions whose shape lost a field every earlier record had, or changed a field's type
    (docs/architecture.md#unversioned-schema-changes); fields added later are fine."""
    from sample_topology.encode_records import event_value

    per: dict[tuple[str, str, str], dict[str, list[Any]]] = {}
    for r in sorted(plan.records, key=lambda r: (r.timestamp, r.partition, r.offset)):
        ev = r.event
        # bare events carry no version; the Avro ones decode through their one registry schema: one shape
        if r.dead_letter is not None or ev is None or ev.version is None or ev.envelope in ("bare", "avro"):
            continue
        value = ev.data if ev.envelope == "cloudevents" else json.loads(event_value(ev, 0)[0])
        shape = json.dumps(_json_shape(value), sort_keys=True)
        s = per.setdefault((r.topic, ev.type, ev.version), {}).setdefault(shape, [0, r.timestamp, r.timestamp, r])
        s[0] += 1
        s[2] = r.timestamp
    out = []
    for (topic, etype, version), shapes in sorted(per.items()):
        seen = [(json.loads(k), *v) for k, v in sorted(shapes.items(), key=lambda kv: kv[1][1])]
        changed: list[int] = []
        for f in sorted({f for s in seen for f in s[0]}):
            having = [i for i, s in enumerate(seen) if f in s[0]]
            last = max(seen[i][3] for i in having)
            without = [i for i, s in enumerate(seen) if f not in s[0]]
            if without and 0 in having and all(seen[i][2] > last for i in without):
                changed += without
            typed = [(i, seen[i][0][f]) for i in having if seen[i][0][f] != "null"]
            changed += [i for i, t in typed if t != typed[0][1]]
        if changed:
            first = min(changed, key=lambda i: seen[i][2])
            out.append(_finding("UNVERSIONED_SCHEMA_CHANGE", "warning", "unversioned_schema_change", "topic", topic,
                                sum(seen[i][1] for i in set(changed)), seen[first][2],
                                max(seen[i][3] for i in set(changed)), event_type=etype, version=version,
                                first_record_before=f"{seen[0][4].partition}/{seen[0][4].offset}",
                                first_record_after=f"{seen[first][4].partition}/{seen[first][4].offset}"))
    return out


def _edges(plan: Plan, topo: Topology) -> list[dict[str, Any]]:
    seen: dict[str, list[int]] = {}
    for t in plan.traces:
        for op in t.root.walk():
            for c in op.children:
                if op.kind == HTTP_CLIENT and c.kind == HTTP_SERVER:
                    seen.setdefault(f"{op.service} -> {c.service} {c.method} {c.route}", []).append(op.start)
            if op.kind == PRODUCE and op.record is not None:
                seen.setdefault(f"{op.service} -> {op.record.topic}", []).append(op.start)
    for c in plan.commits:
        seen.setdefault(f"{c.topic} -> {c.group}", []).append(c.at)
    declared = {f"{e.caller} -> {e.callee} {e.method} {e.route}" for e in topo.sync_edges}
    declared |= {f"{t.producer} -> {t.name}" for t in topo.topics.values() if t.producer}
    declared |= {f"{t} -> {g.name}" for g in topo.groups.values() for t in g.topics}
    out = [_finding("UNDECLARED_EDGE", "info", "topology_drift", "edge", e, len(ts), min(ts), max(ts))
           for e, ts in sorted(seen.items()) if e not in declared]
    for e in sorted(declared - set(seen)):
        f = _finding("UNOBSERVED_EDGE", "info", "topology_drift", "edge", e, 0, 0, 0)
        f["first_seen_s"] = f["last_seen_s"] = None
        out.append(f)
    return out


def from_plan(plan: Plan, topo: Topology | None = None) -> dict[str, Any]:
    """Every expected finding and healthy subject of a plan."""
    topo = topo or load_topology(TOPOLOGY_FILE)
    times = next(f["times"] for f in plan.facts if f["kind"] == "times")
    findings = _sync(plan, topo, times)
    lag, lag_ok = _lag(plan, times)
    delivery, redelivering, violating = _delivery(plan)
    recs, _ = _records(plan)
    chatter, chatty = _chatter(plan)
    committed, publishing = _commit_publish(plan)
    replies, handlers = _request_reply(plan)
    disorder, _ = _out_of_order(plan)
    findings += (lag + delivery + recs + chatter + _passive_aggressive(plan) + committed + replies + disorder
                 + _schema_changes(plan) + _edges(plan, topo))
    topics = sorted(plan.partitions)
    healthy = [{"rule": "CONSUMER_LAG", "subject_kind": "group", "subject": g} for g in lag_ok]
    disordered = {f["subject"] for f in findings if f["rule"] == "OUT_OF_ORDER_PROCESSING"}
    for rule, bad in (("REDELIVERY", redelivering), ("IDEMPOTENCY_VIOLATION", violating),
                      ("CALLBACK_CHATTER", chatty), ("OUT_OF_ORDER_PROCESSING", disordered)):
        healthy += [{"rule": rule, "subject_kind": "group", "subject": g} for g in sorted(plan.groups) if g not in bad]
    for rule in ("DUPLICATE_PUBLISH", "EVENT_ID_COLLISION", "ENVELOPE_MISSING", "EVENT_AS_COMMAND",
                 "MISSING_TRACE_CONTEXT", "NULL_OR_UNSTABLE_KEY", "DEAD_LETTER", "PASSIVE_AGGRESSIVE_EVENT",
                 "UNVERSIONED_SCHEMA_CHANGE"):
        flagged = {f["subject"] for f in findings if f["rule"] == rule}
        if rule in ("EVENT_ID_COLLISION", "MISSING_TRACE_CONTEXT", "NULL_OR_UNSTABLE_KEY"):
            flagged = set()
        healthy += [{"rule": rule, "subject_kind": "topic", "subject": t} for t in topics if t not in flagged]
    for rule in ("PUBLISH_BEFORE_COMMIT", "PHANTOM_EVENT"):
        flagged = {f["subject"] for f in findings if f["rule"] == rule}
        healthy += [{"rule": rule, "subject_kind": "edge", "subject": e} for e in sorted(publishing - flagged)]
    flagged = {f["subject"] for f in findings if f["rule"] == "REQUEST_REPLY_OVER_EVENTS"}
    healthy += [{"rule": "REQUEST_REPLY_OVER_EVENTS", "subject_kind": "endpoint", "subject": h}
                for h in sorted(handlers - flagged)]
    entries = sorted({f"{t.root.service} {t.root.name}" for t in plan.traces} - {"web-checkout POST /checkout"})
    healthy += [{"rule": "LONG_SYNC_CHAIN", "subject_kind": "endpoint", "subject": e} for e in entries]
    depth_hist = Counter()
    per_trace: dict[str, int] = {}
    for t in plan.traces:
        per_trace[t.trace_id] = max(per_trace.get(t.trace_id, 0), _depth(t.root)[0])
    depth_hist.update(per_trace.values())
    return {
        "seed": plan.seed, "minutes": plan.minutes, "duration_s": _s(plan.duration),
        "max_sync_depth": topo.max_sync_depth,
        "findings": findings, "healthy": healthy,
        "totals": {"spans": sum(len(t.root.walk()) for t in plan.traces), "traces": len(per_trace),
                   "records": len(plan.records),
                   "snapshots": len(snapshot_times(plan)),
                   "trace_depths": {str(k): v for k, v in sorted(depth_hist.items())}},
    }


def incidents_of(plan: Plan) -> list[dict[str, Any]]:
    """The injected incidents, one line each, for the simulator's report."""
    out = []
    for f in from_plan(plan)["findings"]:
        if f["incident"] != "topology_drift":
            out.append({"kind": f["incident"], "rule": f["rule"], "subject": f["subject"],
                        "at_s": f["first_seen_s"], "count": f["count"]})
    return out


def expected_findings(seed: int = 7, minutes: int = 30) -> dict[str, Any]:
    from sample_topology.scenario import build_plan

    return from_plan(build_plan(seed, minutes))


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dumps(expected_findings()))
