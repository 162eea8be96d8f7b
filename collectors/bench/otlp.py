"""OTLP ingest speed: a separate client process posts 512-span protobuf batches over HTTP for a fixed time.

Printed in the same run, so the ratios mean something on a shared machine: bare protobuf
parsing, the detour through JSON (MessageToDict + the JSON decoder: the naive way), the
direct protobuf decoder, spans stored end to end through the receiver, and the store's insert
alone (decoded tables through the receiver's writer), which bounds what the receiver can store.
Run the client alone with ``python -m collectors.bench.otlp HOST PORT SECONDS``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from collectors.bench import child
from collectors.normalize import otlp_native
from collectors.normalize.otlp_json import spans_from_json
from collectors.normalize.otlp_proto import parse_request, spans_from_proto
from collectors.otlp.decode import decode
from collectors.status import OtlpStatus

BATCH = 512
FLOOR = 150_000  # spans/s stored in-process on a 2-core machine (issue 17)
SHARE_OF_PARSE = 0.25  # stored in-process against bare protobuf parsing, measured in the same run (issue 17)
CLIENT_CONNECTIONS = 4


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


# What instrumented services send: HTTP server/client, database, producer and consumer spans.
_SHAPES: list[tuple[int, str, dict[str, Any]]] = [
    (2, "POST /orders", {"http.request.method": "POST", "http.route": "/orders", "http.response.status_code": 201,
                         "url.scheme": "http", "server.address": "orders-api", "user_agent.original": "okhttp/4.12"}),
    (3, "GET", {"http.request.method": "GET", "server.address": "accounts-api", "server.port": 8080,
                "url.full": "http://accounts-api:8080/accounts/42", "http.response.status_code": 200}),
    (3, "INSERT orders", {"db.system": "postgresql", "db.statement": "INSERT INTO orders VALUES ($1, $2)",
                          "db.name": "shop", "server.address": "db"}),
    (4, "orders send", {"messaging.system": "kafka", "messaging.destination.name": "orders",
                        "messaging.operation.type": "send", "messaging.destination.partition.id": "3",
                        "messaging.message.id": "evt-1", "messaging.client.id": "orders-producer"}),
    (5, "orders process", {"messaging.system": "kafka", "messaging.destination": "orders",
                           "messaging.operation": "process", "messaging.kafka.consumer_group": "email",
                           "messaging.kafka.partition": 3, "messaging.kafka.message.offset": 1234}),
]


def payloads(count: int = 16, *, seed: int = 7) -> list[bytes]:
    """``count`` serialized requests of BATCH spans each (deterministic)."""
    rnd = random.Random(seed)
    out = []
    now = time.time_ns()
    for n in range(count):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add()
        rs.resource.attributes.extend([_kv("service.name", f"svc-{n % 4}"), _kv("service.instance.id", f"i-{n}"),
                                       _kv("telemetry.sdk.language", "java"), _kv("host.name", "node-1"),
                                       _kv("deployment.environment", "bench")])
        ss = rs.scope_spans.add()
        ss.scope.name = "io.opentelemetry.bench"
        for i in range(BATCH):
            kind, name, attrs = _SHAPES[i % len(_SHAPES)]
            sp = ss.spans.add(trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8), parent_span_id=rnd.randbytes(8),
                              name=name, kind=kind, flags=0x100, start_time_unix_nano=now + i * 1000,
                              end_time_unix_nano=now + i * 1000 + rnd.randrange(1_000_000))
            sp.attributes.extend(_kv(k, v) for k, v in attrs.items())
        out.append(req.SerializeToString())
    return out


def _rate(fn: Callable[[bytes], Any], bodies: list[bytes], seconds: float, rounds: int = 4) -> float:
    """Spans per second of ``fn`` over the bodies: the best of ``rounds`` rounds in about ``seconds``.

    The best round, because on a shared machine a single timing mostly measures the neighbours.
    """
    best = 0.0
    for _ in range(rounds):
        done, start = 0, time.perf_counter()
        while True:
            for body in bodies:
                fn(body)
                done += BATCH
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / rounds:
                break
        best = max(best, done / elapsed)
    return best


def _via_json(body: bytes) -> Any:
    doc = MessageToDict(parse_request(body), use_integers_for_enums=True)
    return spans_from_json(doc, source="bench")


def run(*, seconds: float = 10.0, workers: int = 2,
        progress: Callable[[float], None] | None = None) -> Iterator[str]:
    """Run the benchmark, yielding the lines to print; ``progress`` gets seconds of load done."""
    bodies = payloads()
    parse = _rate(parse_request, bodies, 1.0)
    detour = _rate(_via_json, bodies[:4], 1.0)
    direct = _rate(lambda b: spans_from_proto(b, source="bench"), bodies, 1.0)
    with otlp_native.using("python"):
        arrow = _rate(lambda b: decode(b, "proto", "bench"), bodies, 1.0)
    native = _rate(lambda b: otlp_native.span_table(b, "bench"), bodies, 1.0) if otlp_native.available() else 0.0
    yield f"protobuf parse only            {parse:>10,.0f} spans/s"
    yield f"parse → rows via JSON          {detour:>10,.0f} spans/s  (MessageToDict + JSON decoder: the detour)"
    yield f"parse → rows direct            {direct:>10,.0f} spans/s  ({direct / detour:.1f}× the detour)"
    yield (f"parse → Arrow table, Python   {arrow:>10,.0f} spans/s  ({1e6 / arrow:.1f} µs/span: what the receiver "
           f"does per request, row tuples transposed per batch)")
    if native:
        yield (f"parse → Arrow table, native   {native:>10,.0f} spans/s  ({1e6 / native:.2f} µs/span; "
               f"native / Python decoder {native / arrow:.1f}×; receiver decoder: {otlp_native.chosen()})")
    rates, cpus = [], []
    for n, (decode_workers, label) in enumerate([(0, "stored, decoding in-process"),
                                                 (workers, f"stored, {workers} decoder processes")]):
        done = n * seconds
        stored, elapsed, cpu, sent, status = _end_to_end(
            seconds, decode_workers, (lambda t, done=done: progress(done + t)) if progress else None)
        rate = stored / elapsed
        rates.append(rate)
        cpus.append(cpu / max(stored, 1))
        yield (f"{label:<30} {rate:>10,.0f} spans/s  ({stored:,} spans in {elapsed:.1f} s to the last commit; "
               f"receiver CPU {cpu / max(stored, 1) * 1e6:.1f} µs/span; {sent.get('requests', 0):,} requests, "
               f"{sent.get('retries', 0):,} answered 503/429; {status.batches} store batches)")
    alone, _ = _store_rate(bodies, native=bool(native))
    yield (f"store's insert alone           {alone:>10,.0f} spans/s  ({alone / parse:.1%} of parse only: decoded "
           f"tables through the writer, no HTTP and no decoding; stored cannot pass this)")
    yield f"stored / parse only            {rates[0] / parse:>10.1%}  (in-process)"
    yield f"stored / store's insert alone  {rates[0] / alone:>10.1%}"
    yield f"stored / direct decode         {rates[0] / direct:>10.1%}"
    yield f"stored / Arrow decode          {rates[0] / arrow:>10.1%}"
    yield f"decoder processes / in-process {rates[1] / rates[0]:>10.2f}×"
    cores = os.cpu_count() or 1
    # what the receiver's CPU a span allows when nothing else runs: decoding (native) and DuckDB's
    # insert run outside the GIL, so in-process can use every core too
    yield (f"ceiling if the machine were idle: in-process {cores / cpus[0]:,.0f} spans/s, "
           f"{workers} decoder processes {cores / cpus[1]:,.0f} spans/s ({cores} cores)")
    yield (f"target stored ≥ {SHARE_OF_PARSE:.0%} of parse only, in-process: "
           f"{'met' if rates[0] >= SHARE_OF_PARSE * parse else 'NOT met'} ({rates[0] / parse:.1%}, "
           f"{rates[0] / (SHARE_OF_PARSE * parse):.2f} of it)")
    yield (f"floor ≥ {FLOOR:,} spans/s stored, in-process: {'met' if rates[0] >= FLOOR else 'NOT met'} "
           f"({rates[0]:,.0f}, {rates[0] / FLOOR:.2f} of it)")
    yield f"load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores"


def _end_to_end(seconds: float, decode_workers: int,
                progress: Callable[[float], None] | None) -> tuple[int, float, float, dict[str, Any], OtlpStatus]:
    """Receiver over a fresh store, fed by a client process for ``seconds``.

    Returns spans stored, seconds from the first request to the last commit, CPU seconds of the
    receiver (this process and its decoder processes, less what starting those processes costs,
    not the client), what the client sent, and the receiver's status.
    """
    from collectors.otlp import OtlpConfig, OtlpReceiver
    from collectors.otlp.decode import Decoder
    from collectors.store import Store

    before = _cpu()
    idle = Decoder(decode_workers)
    idle.start()
    idle.stop()
    startup_cpu = _cpu() - before  # spawning and importing, paid once per process, not per span

    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-") as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        receiver = OtlpReceiver(store, OtlpConfig(http=("127.0.0.1", 0), grpc=None, decode_workers=decode_workers))
        cpu_before = _cpu()
        receiver.start()
        host, port = receiver.http_address
        started = time.time()
        client = subprocess.Popen(child.command("collectors.bench.otlp", host, str(port), str(seconds)),
                                  stdout=subprocess.PIPE, text=True)
        try:
            while client.poll() is None:
                time.sleep(0.25)
                if progress:
                    progress(min(time.time() - started, seconds))
            sent = json.loads(client.stdout.read() if client.stdout else "{}")
        finally:
            if client.poll() is None:
                client.kill()
            receiver.stop(60)  # flushes: stored means committed
        status = receiver.status()
        # from the client's first request: its start (imports, building the payloads) is not the receiver's
        elapsed = (status.last_flush_at or time.time()) - sent.get("sending_from", started)
        cpu = _cpu() - cpu_before - sent.get("cpu_seconds", 0.0) - startup_cpu
        stored = store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]
        return stored, elapsed, cpu, sent, status


STORE_SPANS = 300_000  # spans appended by _store_rate: three of the writer's default flushes


def _store_rate(bodies: list[bytes], *, native: bool, spans: int = STORE_SPANS) -> tuple[float, int]:
    """Spans per second through the receiver's writer alone, and spans it stored: requests decoded
    beforehand (each stamped with spans of its own, as the client does), offered as fast as the
    writer takes them, timed from the writer's start to its last commit."""
    from collectors.otlp import OtlpConfig
    from collectors.otlp.writer import BatchWriter
    from collectors.store import Store

    plans = [_stamp_plan(body) for body in bodies]
    with otlp_native.using("native" if native else "python"):
        tables = [decode(_stamped(bodies[i % len(bodies)], plans[i % len(bodies)], i + 1, i * 1000), "proto",
                         "otlp-http")[0] for i in range(spans // BATCH)]
    config = OtlpConfig()
    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-") as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        writer = BatchWriter(store, max_pending_rows=config.max_pending_rows, flush_rows=config.flush_rows,
                             flush_interval=config.flush_interval, max_pending_bytes=1 << 40)
        started = time.perf_counter()
        writer.start()
        for table in tables:
            while not writer.offer(table):
                time.sleep(0.001)
        writer.stop(60)
        elapsed = time.perf_counter() - started
        return writer.spans_written / elapsed, writer.spans_written


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (decoder processes, the client)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _client(host: str, port: int, seconds: float) -> dict[str, Any]:
    """Post the payloads round robin on CLIENT_CONNECTIONS keep-alive connections until time is up."""
    bodies = payloads()
    made_at = time.time_ns()
    # the receiver stores a repeated span once (a retry): every request gets spans of its own, by
    # stamping a request number over the first half of each trace id; and spans of now, as an
    # exporter sends them, by moving every start and end time to the moment the request is sent
    plans = [_stamp_plan(body) for body in bodies]
    counts: dict[str, Any] = {"requests": 0, "spans": 0, "retries": 0, "failures": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(offset: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        i = offset
        while time.monotonic() < deadline:
            body = _stamped(bodies[i % len(bodies)], plans[i % len(bodies)], ((offset + 1) << 40) + i,
                            time.time_ns() - made_at)
            conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            resp = conn.getresponse()
            resp.read()
            with lock:
                counts["requests"] += 1
                if resp.status == 200:
                    counts["spans"] += BATCH
                    i += 1
                elif resp.status in (429, 503):
                    counts["retries"] += 1
                else:
                    counts["failures"] += 1
            if resp.status in (429, 503):
                time.sleep(0.05)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(CLIENT_CONNECTIONS)]
    counts["sending_from"] = time.time()  # the receiver's clock starts here, not at this process's start
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts["cpu_seconds"] = time.process_time()  # type: ignore[assignment]
    return counts


def _stamp_plan(body: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where a request's trace ids and span times lie: the byte positions of the first half of
    each trace id, of each start and end time (fixed64, little-endian), and those times."""
    req = parse_request(body)
    spans = [sp for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    ids = [body.index(sp.trace_id) for sp in spans]
    at, times = [], []
    for sp, begins in zip(spans, ids, strict=True):  # a span's times follow its trace id (fields 7, 8 after 1)
        for tag, value in ((b"\x39", sp.start_time_unix_nano), (b"\x41", sp.end_time_unix_nano)):
            at.append(body.index(tag + value.to_bytes(8, "little"), begins) + 1)
            times.append(value)
    eight = np.arange(8)
    return (np.add.outer(np.array(ids), eight).ravel(), np.add.outer(np.array(at), eight).ravel(),
            np.array(times, dtype="<u8"))


def _stamped(body: bytes, plan: tuple[np.ndarray, np.ndarray, np.ndarray], stamp: int, shift_ns: int) -> bytes:
    """The body with ``stamp`` over the first half of every trace id and every time moved by ``shift_ns``."""
    ids, at, times = plan
    out = np.frombuffer(body, dtype=np.uint8).copy()
    out[ids] = np.tile(np.frombuffer(stamp.to_bytes(8, "big"), dtype=np.uint8), len(ids) // 8)
    out[at] = (times + np.uint64(shift_ns)).view(np.uint8)
    return out.tobytes()


if __name__ == "__main__":
    print(json.dumps(_client(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))))
