"""Parcel scans in the sample shop: events processed out of order, and a shape changed under one version.

warehouse-api publishes ParcelPacked and, a few hundred milliseconds later, ParcelDispatched
on shop.parcels, both CloudEvents whose subject is the parcel id; the tracking group's three
instances read one partition each. Two incidents ride on this flow:

- OUT_OF_ORDER_PROCESSING: from KEY_CHANGE_AT of the run, a new scanner release keys
  ParcelDispatched by the tracking number instead of the parcel id. The two events of one
  parcel then land on different partitions, and when the instance holding ParcelPacked is
  busy, tracking handles ParcelDispatched first. Until then (the healthy look-alike) one
  parcel's events share a key, a partition and their order.
- UNVERSIONED_SCHEMA_CHANGE: from SHAPE_CHANGE_AT, the packing stations send ParcelPacked's
  weight as text ("1250 g") and no longer send its dimensions, still as version "1". The
  healthy look-alike: from OPTIONAL_FIELD_AT, ParcelDispatched gains an optional carrierRef,
  also under version "1", which breaks no reader.

Its choices come from a generator of its own, so the shop's other traffic and incidents stay
exactly what they were.
"""

from __future__ import annotations

from sample_topology.handlers import process
from sample_topology.ops import Ids, arrivals, db, external, partition_for, produce, server
from sample_topology.plan import Event, Op, Plan, Record, Trace

TOPIC = "shop.parcels"
GROUP = "tracking"
RATE = 0.25  # parcels per second
KEY_CHANGE_AT = 0.5  # fractions of the run
SHAPE_CHANGE_AT = 0.6
OPTIONAL_FIELD_AT = 0.4
DISPATCH_AFTER_MS = (20, 250)  # ParcelDispatched follows ParcelPacked by this much
SEED_OFFSET = 0x9A4  # this incident's generator: the scenario's seed plus this


class Parcels:
    def __init__(self, plan: Plan, seed: int) -> None:
        self.plan, self.ids = plan, Ids(seed + SEED_OFFSET)
        self.pods = [self.ids.instance("warehouse-api") for _ in range(2)]

    def run(self) -> None:
        for n, t0 in enumerate(arrivals(self.ids, RATE, self.plan.duration), start=1):
            self._parcel(t0, f"parcel-{n:06d}")

    def _scan(self, t0: int, key: str, ev: Event, fact: dict[str, object]) -> Record:
        ids = self.ids
        pod = ids.rng.choice(self.pods)
        rec = Record(TOPIC, partition_for(key, self.plan.partitions[TOPIC]), key, 0, ev)
        self.plan.records.append(rec)
        root = server(ids, "warehouse-api", pod, "POST", "/parcels/{id}/scans", f"/parcels/{ev.subject}/scans", t0,
                      [produce(ids, "warehouse-api", pod, rec)], status=202)
        ev.occurred_at = rec.timestamp
        trace = Trace(ids.trace(), root)
        self.plan.traces.append(trace)
        self.plan.facts.append({"kind": "parcel_scan", "trace_id": trace.trace_id, "at": t0, "record": rec, **fact})
        return rec

    def _parcel(self, t0: int, parcel: str) -> None:
        ids, duration = self.ids, self.plan.duration
        tracking = f"TRK{ids.rng.randrange(10**9, 10**10)}"
        grams = ids.rng.randrange(200, 20_000)
        packed: dict[str, object] = {"parcelId": parcel, "orderId": f"ord-{ids.rng.randrange(1, 999_999):06d}"}
        if t0 >= SHAPE_CHANGE_AT * duration:
            packed["weight"] = f"{grams} g"  # was a number of grams; the dimensions are gone
        else:
            packed["weight"] = grams
            packed["dimensions"] = {"l": ids.rng.randrange(10, 80), "w": ids.rng.randrange(10, 60),
                                    "h": ids.rng.randrange(5, 40)}
        ev1 = Event("ParcelPacked", "cloudevents", "/warehouse-api", 0, ids.uuid(), "1", None, ids.uuid(), parcel,
                    packed)
        first = self._scan(t0, parcel, ev1, {"parcel": parcel, "type": "ParcelPacked"})
        dispatched: dict[str, object] = {"parcelId": parcel, "trackingNumber": tracking,
                                         "carrier": ids.rng.choice(["dhl", "ups", "dpd"])}
        t1 = first.timestamp + ids.ms(*DISPATCH_AFTER_MS)
        if t1 >= OPTIONAL_FIELD_AT * duration:
            dispatched["carrierRef"] = f"cr-{ids.rng.randrange(10**6, 10**7)}"
        ev2 = Event("ParcelDispatched", "cloudevents", "/warehouse-api", 0, ids.uuid(), "1", ev1.event_id,
                    ev1.correlation_id, parcel, dispatched)
        key = tracking if t1 >= KEY_CHANGE_AT * duration else parcel
        self._scan(t1, key, ev2, {"parcel": parcel, "type": "ParcelDispatched"})

    def track(self, rec: Record, start: int, inst: str) -> tuple[list[Op], int]:
        """tracking asks the carrier about the parcel and records the scan."""
        ids, svc = self.ids, "tracking-service"
        op = process(ids, svc, inst, GROUP, rec, start,
                     [external(ids, svc, inst, "GET", "carrier-api", f"/v2/parcels/{rec.event.subject}", 250, 1200),
                      db(ids, svc, inst, "INSERT", "parcel_events")])
        return [op], op.end
