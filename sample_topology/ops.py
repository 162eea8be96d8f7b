"""Seeded ids and small builders of ops (spans-to-be) with plausible timings."""

from __future__ import annotations

import random
import uuid
import zlib
from collections.abc import Callable, Iterator

from sample_topology.plan import DB, HTTP_CLIENT, HTTP_SERVER, PRODUCE, Op, Record

MS = 1000
SEC = 1_000_000


class Ids:
    """Every id and random choice of a scenario comes from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def trace(self) -> str:
        return f"{self.rng.getrandbits(128) or 1:032x}"

    def span(self) -> str:
        return f"{self.rng.getrandbits(64) or 1:016x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def instance(self, service: str) -> str:
        """A pod-like instance id; a restarted consumer gets a new one."""
        alnum = "bcdfghjklmnpqrstvwxz2456789"
        return f"{service}-{self.rng.getrandbits(32):08x}"[: len(service) + 9] + "-" + "".join(
            self.rng.choice(alnum) for _ in range(5))

    def ms(self, lo: float, hi: float) -> int:
        """A duration in µs, uniform between lo and hi milliseconds."""
        return int(self.rng.uniform(lo, hi) * MS)


Maker = Callable[[int], Op]


def arrivals(ids: Ids, rate: float, duration: int) -> Iterator[int]:
    """Arrival times (µs) of a Poisson stream of ``rate`` a second, until 5 s before ``duration``.

    Lazy on purpose: each gap is drawn just before its arrival is handled, so a caller that
    draws from the same generator between arrivals sees the same random sequence it always did."""
    t = 0.0
    while True:
        t += ids.rng.expovariate(rate)
        if t * SEC >= duration - 5 * SEC:
            return
        yield int(t * SEC)


def partition_for(key: str, partitions: int) -> int:
    """librdkafka's consistent partitioner: CRC32 of the key."""
    return zlib.crc32(key.encode()) % partitions


def seq(t: int, makers: list[Maker], ids: Ids, gap: tuple[float, float] = (0.05, 0.4)) -> tuple[list[Op], int]:
    """Lay children out one after the other from t; returns them and the time the last ends."""
    out: list[Op] = []
    for make in makers:
        op = make(t)
        out.append(op)
        t = op.end + ids.ms(*gap)
    return out, t


def db(ids: Ids, service: str, instance: str, operation: str, table: str, *, system: str = "postgresql",
       lo: float = 0.6, hi: float = 4.0, semconv: str = "new", statement: str | None = None) -> Maker:
    """A DB client span; writes (INSERT/UPDATE/DELETE) are what idempotency counts as effects."""
    if statement is None:  # query text recorded on a span, never executed
        statement = {
            "SELECT": f"SELECT * FROM {table} WHERE id = $1",  # noqa: S608
            "INSERT": f"INSERT INTO {table} VALUES ($1, $2, $3)",  # noqa: S608
            "UPDATE": f"UPDATE {table} SET quantity = quantity - $1 WHERE sku = $2",  # noqa: S608
        }.get(operation, f"{operation} {table}")

    def make(t: int) -> Op:
        return Op(DB, service, instance, f"{operation} {table}", t, t + ids.ms(lo, hi), ids.span(),
                  semconv=semconv, db_system=system, db_operation=operation, table=table, statement=statement)
    return make


def call(ids: Ids, caller: str, caller_inst: str, callee: str, callee_inst: str, method: str, route: str,
         path: str, inner: list[Maker], *, client_semconv: str = "new", server_semconv: str = "new",
         status: int = 200, work: tuple[float, float] = (0.3, 2.0)) -> Maker:
    """A CLIENT span in the caller whose child is the callee's SERVER span (one sync hop)."""
    def make(t: int) -> Op:
        client = Op(HTTP_CLIENT, caller, caller_inst, method, t, 0, ids.span(), semconv=client_semconv,
                    method=method, route=route, path=path, status=status, peer=callee)
        s0 = t + ids.ms(0.3, 1.2)
        children, end = seq(s0 + ids.ms(0.1, 0.5), inner, ids)
        server = Op(HTTP_SERVER, callee, callee_inst, f"{method} {route}", s0, end + ids.ms(*work), ids.span(),
                    children, semconv=server_semconv, method=method, route=route, path=path, status=status)
        client.children = [server]
        client.end = server.end + ids.ms(0.3, 1.2)
        return client
    return make


def external(ids: Ids, service: str, instance: str, method: str, peer: str, path: str,
             lo: float, hi: float) -> Maker:
    """A CLIENT call to a system outside the traces (no SERVER span): a leaf call."""
    def make(t: int) -> Op:
        return Op(HTTP_CLIENT, service, instance, method, t, t + ids.ms(lo, hi), ids.span(),
                  method=method, path=path, status=200, peer=peer)
    return make


def produce(ids: Ids, service: str, instance: str, record: Record, *, semconv: str = "new",
            retry_of: Record | None = None) -> Maker:
    """A PRODUCER span for `record`; the record's time and traceparent follow the span."""
    def make(t: int) -> Op:
        op = Op(PRODUCE, service, instance, f"send {record.topic}", t, 0, ids.span(), semconv=semconv,
                record=record)
        if retry_of is not None:
            # the first attempt was written but its ack was lost; the client sent it again
            retry_of.timestamp = t + ids.ms(0.2, 0.8)
            record.timestamp = retry_of.timestamp + ids.ms(1500, 2500)
            op.end = record.timestamp + ids.ms(1.0, 4.0)
        else:
            record.timestamp = t + ids.ms(0.2, 0.8)
            op.end = record.timestamp + ids.ms(1.0, 4.0)
        for r in (record, retry_of):
            if r is not None:
                r.producer_span = ("", op.span_id)  # trace id filled in by the trace's owner
        return op
    return make


def server(ids: Ids, service: str, instance: str, method: str, route: str, path: str, t: int,
           inner: list[Maker], *, semconv: str = "new", status: int = 200) -> Op:
    """A root SERVER span (a request from an uninstrumented client)."""
    children, end = seq(t + ids.ms(0.1, 0.5), inner, ids)
    return Op(HTTP_SERVER, service, instance, f"{method} {route}", t, end + ids.ms(0.3, 2.0), ids.span(), children,
              semconv=semconv, method=method, route=route, path=path, status=status)
