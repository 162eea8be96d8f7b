"""How fast the tap reads a topic into DuckDB, against a bare consume loop and kcat.

Also times the same events in the Confluent wire format (Avro, confluent-kafka's
AvroSerializer) through the tap with schema decoding, beside JSON over as many records.

Fills a topic with small JSON events (~300 B, a few headers) once, then times, each in a fresh
subprocess so peak memory is its own: a bare confluent-kafka loop that touches nothing,
kcat (when installed), the tap with every record through normalize's record_row (over the first
100k records), the tap's pure-Python bulk-query path, and its native path (Rust, when built)
over a quarter of the topic and over all of it, so peak RSS at two volumes shows whether
memory stays flat. The bare loop, kcat and the native tap run three times each and the best
run counts, with the spread printed: on a shared machine a run is only ever slowed down. The tap runs are
complete: consume, normalize, Arrow, DuckDB commit with positions. The machine's load average
is printed before and after (a loaded machine starves every run), and the tap's CPU per
record by thread (consumer, normalizer, writer, DuckDB workers, librdkafka).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collectors.bench import child, load_average

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PARTITIONS = 4


def _event(i: int) -> bytes:
    doc = {"eventId": f"6f1c2a9e-{i:012d}", "eventType": "OrderCreated", "eventVersion": 3,
           "occurredAt": "2026-03-01T10:15:30.123456Z", "source": "orders-api",
           "correlationId": f"corr-{i % 5000:06d}",
           "data": {"orderId": f"order-{i}", "customerId": f"cust-{i % 9973}", "amount": 4999 + i % 100,
                    "currency": "EUR", "items": [{"sku": "SKU-1", "qty": 1}, {"sku": "SKU-2", "qty": 2}]}}
    return json.dumps(doc, separators=(",", ":")).encode()


def ensure_topic(bootstrap: str, messages: int) -> str:
    """A topic holding `messages` bench events (reused when a previous run filled it)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"seamwatch-bench-{messages}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=10)
    if topic in md.topics:
        if _end_offsets(bootstrap, topic) == messages:
            return topic
        admin.delete_topics([topic])[topic].result(30)
        time.sleep(1)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                  "compression.type": "lz4", "queue.buffering.max.messages": 500_000})
    headers = [("traceparent", TRACEPARENT.encode()), ("content-type", b"application/json"),
               ("producer", b"orders-api")]
    for i in range(messages):
        while True:
            try:
                p.produce(topic, key=f"order-{i}".encode(), value=_event(i), headers=headers,
                          partition=i % PARTITIONS)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(120):
        raise RuntimeError("the bench topic could not be filled")
    return topic


# The bench events as Avro (the same fields), for the wire-format rate beside JSON's.
AVRO_SCHEMA = json.dumps({"type": "record", "name": "OrderCreated", "namespace": "bench", "fields": [
    {"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
    {"name": "eventVersion", "type": "int"}, {"name": "occurredAt", "type": "string"},
    {"name": "source", "type": "string"}, {"name": "correlationId", "type": "string"},
    {"name": "data", "type": {"type": "record", "name": "Order", "fields": [
        {"name": "orderId", "type": "string"}, {"name": "customerId", "type": "string"},
        {"name": "amount", "type": "int"}, {"name": "currency", "type": "string"},
        {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}}]}}]})


def ensure_avro_topic(bootstrap: str, messages: int, schemas: Path) -> str:
    """A topic of the bench events in the Confluent wire format (Avro), written by
    confluent-kafka's AvroSerializer; the schema goes into ``schemas`` as ``<id>.json``, where
    the tap's decoder reads it (a registry would give the same schema once: readers are cached)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    topic = f"seamwatch-bench-avro-{messages}"
    client = SchemaRegistryClient.new_client({"url": "mock://seamwatch-bench"})
    ser = AvroSerializer(client, AVRO_SCHEMA)
    ctx = SerializationContext(topic, MessageField.VALUE)
    first = ser(json.loads(_event(0)), ctx)
    sid = int.from_bytes(first[1:5], "big")
    (schemas / f"{sid}.json").write_text(json.dumps({"schema": AVRO_SCHEMA, "schemaType": "AVRO", "version": 1}))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        if _end_offsets(bootstrap, topic) == messages:
            return topic
        admin.delete_topics([topic])[topic].result(30)
        deadline = time.monotonic() + 30  # deletion completes after the call returns
        while topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
            time.sleep(0.5)
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000,
                  "compression.type": "lz4", "queue.buffering.max.messages": 500_000})
    headers = [("traceparent", TRACEPARENT.encode()), ("producer", b"orders-api")]
    for i in range(messages):
        value = ser(json.loads(_event(i)), ctx)
        while True:
            try:
                p.produce(topic, key=f"order-{i}".encode(), value=value, headers=headers, partition=i % PARTITIONS)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(120):
        raise RuntimeError("the Avro bench topic could not be filled")
    return topic


def _end_offsets(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "seamwatch-bench-probe"})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.partitions)
    finally:
        c.close()


# -- measurements, each in its own process -----------------------------------------------------
def _peak_mb(pid: int | str = "self") -> float:
    """A process's peak RSS in MiB (this one's by default). Linux keeps ru_maxrss across exec, so a
    child started from the bench (a fork of it) would report at least the bench's own RSS; VmHWM
    starts afresh. Another process that has ended (no VmHWM left) counts 0."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(c) for c in task.read_text().split()]
        except OSError:  # a thread that ended meanwhile
            continue
    return out


def _own_mb(pid: int) -> float:
    """What a process alone holds, in MiB: its private pages (Private_Clean + Private_Dirty), not
    the library pages it shares with its parent, which the parent's RSS counts already."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:  # it has ended
        return 0.0
    return sum(int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:", "Private_Dirty:"))) / 1024


def _tree_peak_mb(pid: int) -> tuple[float, float]:
    """(a process's peak RSS, what its child processes alone hold) in MiB: `collect`'s lag poller
    takes its snapshots in a child process (collectors/kafka/lag_process.py, memory flat) whose own
    memory counts too; the libraries both map are counted once, in the collector's RSS."""
    return _peak_mb(pid), sum(_own_mb(c) for c in _children(pid))


class _RssSampler:
    """RSS at each quarter of the run: flat memory means the last quarter looks like the first."""

    def __init__(self, progress: Any, total: int) -> None:
        self.progress, self.total, self.marks = progress, total, {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = resource.getpagesize()
        while not self._stop.wait(0.05):
            done = self.progress()
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**20
            for q in (25, 50, 75, 100):
                if done * 100 >= q * self.total and q not in self.marks:
                    self.marks[q] = round(rss)

    def __enter__(self) -> _RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def measure_bare(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from collectors.kafka.tap import FETCH_TUNING

    # the tap's own fetch settings: the ratio then shows what the tap's work costs
    c = Consumer({**FETCH_TUNING, "bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False, "enable.partition.eof": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    n = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    while n < messages:
        n += len(c.consume(num_messages=10_000, timeout=1.0))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    c.close()
    return {"records": n, "seconds": elapsed, "peak_mb": _peak_mb(), "cpu_us_per_record": cpu * 1e6 / n}



def _thread_cpu_s() -> dict[str, float]:
    """CPU seconds per thread of this process, by Python thread name (Linux /proc)."""
    import os
    import threading as th

    names = {t.native_id: t.name for t in th.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        name = names.get(int(tid)) or ("librdkafka" if comm.startswith("rdk:") else "other (DuckDB workers, ...)")
        if name.startswith("kafka-tap"):
            name = name.rsplit("-", 1)[1] if name.endswith(("-writer", "-normalizer")) else "consumer"
        out[name] = out.get(name, 0.0) + (int(rest[11]) + int(rest[12])) / tick
    return out


def measure_tap(bootstrap: str, topic: str, messages: int, path: str, schemas: str | None = None,
                memory: str | None = None) -> dict[str, Any]:
    from collectors.kafka.config import KafkaSettings
    from collectors.kafka.source import budget_settings
    from collectors.kafka.tap import KafkaTap
    from collectors.kafka.wire_records import WireRecords
    from collectors.memory_budget import MemoryBudget, lean_process
    from collectors.normalize.wire_format import FolderSchemas, WireDecoder
    from collectors.store import Store

    wire = (WireRecords(WireDecoder(FolderSchemas(schemas)), cluster="bench", source="kafka:bench")
            if schemas else None)

    # under a --memory budget, as `collect --memory` sizes the store and the tap
    limit = MemoryBudget.parse(memory).store_settings() if memory else {}
    if memory:
        lean_process()
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb", **limit) as store:
        settings = KafkaSettings(bootstrap=[bootstrap], cluster="bench", include=(topic,), lag=False,
                                 group_id=f"bench-{uuid.uuid4().hex[:6]}", **budget_settings(memory))
        tap = KafkaTap(store, settings, from_beginning=True, path=path, wire=wire)
        start, cpu0 = time.perf_counter(), time.process_time()
        with _RssSampler(lambda: tap.status().records, messages) as rss:
            tap.start()
            while (done := tap.status().records) < messages:
                time.sleep(0.02)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        status = tap.status()
        threads = _thread_cpu_s() if Path("/proc/self/task").is_dir() else {}
        tap.stop()
        stored, with_id = store.cursor().execute(
            "SELECT count(*), count(event_id) FROM records").fetchone()
    # the rate counts what was written when the clock stopped (the last batch may overshoot)
    return {"records": done, "stored": stored, "with_event_id": with_id, "seconds": elapsed, "peak_mb": _peak_mb(),
            "rss_by_quarter_mb": rss.marks, "slow_path": status.slow_path_records,
            "cpu_us_per_record": cpu * 1e6 / done,
            "decoded": status.wire_decoded, "consumer": status.consumer,
            "stage_us_per_record": {k: round(status.seconds_by_stage.get(k, 0.0) * 1e6 / status.records, 1)
                                    for k in ("consume_s", "extract_s", "hand_over_s", "normalize_s", "wire_decode_s", "write_s")
                                    if k in status.seconds_by_stage},
            "thread_cpu_us_per_record": {k: round(v * 1e6 / status.records, 1) for k, v in sorted(threads.items())
                                         if v * 1e6 / status.records >= 0.1}}


def measure_collect(bootstrap: str, topic: str, messages: int, memory: str | None = None) -> dict[str, Any]:
    """`seamwatch collect` itself, the process a user runs (with its lag poller and deriver), tapping
    the topic from its start into a new store. Its rate counts from its first commit to the one that
    covers the topic (the start-up is not the tap's); its peak RSS is its VmHWM then."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    group = f"bench-collect-{uuid.uuid4().hex[:6]}"
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-P", "-c", "from dashboard.cli import main; main()", "collect", "--db",
               str(Path(tmp) / "bench.duckdb"), "--bootstrap", bootstrap, "--cluster", "bench", "--topic", topic,
               "--from-beginning", "--tap-group", group, *(["--memory", memory] if memory else [])]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        watcher = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            first, deadline = None, time.monotonic() + 600
            while True:
                if proc.poll() is not None:
                    lines = [line for line in proc.communicate()[1].splitlines() if line.strip()] or ["no output"]
                    raise child.BenchError(f"seamwatch collect stopped before it stored the topic: {lines[-1]}")
                try:
                    done = sum(max(tp.offset, 0) for tp in watcher.committed(parts, timeout=10))
                except KafkaException as exc:  # the group's coordinator is not elected yet (a fresh broker)
                    pending = (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE,
                               KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
                    if exc.args[0].code() not in pending or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                    continue
                now = time.perf_counter()
                if done and first is None:
                    first = (now, done)
                if done >= messages:
                    break
                if time.monotonic() > deadline:
                    raise child.BenchError(f"seamwatch collect stored {done:,} of {messages:,} records in 600 s")
                time.sleep(0.05)
            peak, children = _tree_peak_mb(proc.pid)
        finally:
            watcher.close()
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert first is not None
    return {"records": messages - first[1], "seconds": max(now - first[0], 1e-6), "peak_mb": peak + children,
            "children_mb": children}


RUNS = 3  # the bare loop, kcat and the native tap each run this often; the best run counts


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest of several runs (a shared machine only ever slows a run down), with the
    spread of all of them."""
    rates = [r["records"] / r["seconds"] for r in runs]
    best = runs[rates.index(max(rates))]
    return {**best, "spread": f"runs {min(rates):,.0f}–{max(rates):,.0f} records/s"} if len(runs) > 1 else best


def _child_best(mode: str, bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    return _best([_child(mode, bootstrap, topic, messages) for _ in range(RUNS)])


def kcat_path() -> str | None:
    """kcat on the PATH (Debian's package installs /usr/bin/kcat; older ones call it kafkacat)."""
    return shutil.which("kcat") or shutil.which("kafkacat")


def measure_kcat(bootstrap: str, topic: str, messages: int) -> dict[str, Any]:
    """One kcat read of the whole topic (it takes a second or two). Its peak RSS is not taken:
    ru_maxrss survives exec, so it would be the bench's own."""
    kcat = kcat_path()
    assert kcat is not None
    start = time.perf_counter()
    done = subprocess.run([kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise child.BenchError(f"kcat failed: {(done.stderr.strip().splitlines() or ['exit status'])[-1]}")
    return {"records": messages, "seconds": time.perf_counter() - start, "peak_mb": None}


def paired(bootstrap: str, topic: str, messages: int, tap_mode: str) -> list[dict[str, Any]]:
    """kcat and the tap back to back, RUNS times: each pair under the same load, printed with it."""
    rounds = []
    for _ in range(RUNS):
        load = os.getloadavg()[0]
        rounds.append({"load": load, "kcat": measure_kcat(bootstrap, topic, messages),
                       "tap": _child(tap_mode, bootstrap, topic, messages)})
    return rounds


def _child(mode: str, bootstrap: str, topic: str, messages: int, *extra: str) -> dict[str, Any]:
    out = child.run("collectors.bench.kafka", mode, bootstrap, topic, str(messages), *extra, what=mode)
    return json.loads(out.strip().splitlines()[-1])


FULL_SPEED = 0.9  # under a budget, a process counts as at full speed at this share of its best without one


def _peak_and_share(runs: list[dict[str, Any]], budget_rate: float, unbudgeted_rate: float) -> tuple[float, float]:
    """The highest peak RSS of the runs under the budget, in MB as the budget is given, and the best
    rate under it as a share of the best without."""
    return max(r["peak_mb"] for r in runs) * 2**20 / 1e6, budget_rate / unbudgeted_rate


def _budget_line(what: str, runs: list[dict[str, Any]], budget_rate: float, unbudgeted_rate: float,
                 kcat: float | None) -> str:
    """``what``'s peak RSS under the budget (the highest of its runs) and its best rate against its
    own best without one."""
    peak, share = _peak_and_share(runs, budget_rate, unbudgeted_rate)
    return (f"{what} under --memory {BUDGET_SIZE}: peak RSS {peak:.0f} MB (highest of {len(runs)} runs), "
            f"{budget_rate:,.0f} records/s (best): {share:.0%} of its best without a budget"
            + (f", {budget_rate / kcat:.0%} of kcat" if kcat else ""))


def _budget_verdict(what: str, runs: list[dict[str, Any]], budget_rate: float, unbudgeted_rate: float) -> str:
    """Whether ``what`` stays under the budget at full speed."""
    from collectors.memory_budget import MemoryBudget

    peak, share = _peak_and_share(runs, budget_rate, unbudgeted_rate)
    budget_mb = MemoryBudget.parse(BUDGET_SIZE).total / 1e6
    met = peak < budget_mb and share >= FULL_SPEED
    return (f"target: {what}'s peak RSS < {budget_mb:.0f} MB at full speed (≥ {FULL_SPEED:.0%} of its rate "
            f"without a budget): {'met' if met else 'NOT met'} ({peak:.0f} MB, {share:.0%})")


REFERENCE_SAMPLE = 100_000  # the record_row path is slow: its rate is taken over the first records only
BARE = f"bare confluent-kafka loop (best of {RUNS})"
KCAT = f"kcat -C -e (best of {RUNS})"
NATIVE = f"tap, native path (Rust, best of {RUNS})"
NATIVE_CONFLUENT = "tap, native path, confluent consumer"
BULK = "tap, bulk query path (pure Python)"
REFERENCE = "tap, record_row per record"
BUDGET_SIZE = "400MB"
BUDGET = f"tap, best path, --memory {BUDGET_SIZE}"
AVRO_SAMPLE = 200_000  # decoding is per record in Python: the Avro rate is taken over this many


def run(*, bootstrap: str, messages: int) -> Iterator[str]:
    t0 = time.perf_counter()
    topic = ensure_topic(bootstrap, messages)
    yield f"topic {topic}: {messages:,} events of ~{len(_event(0))} B + 3 headers (ready in {time.perf_counter() - t0:.1f}s)"
    yield f"before: {load_average()}"
    quarter = max(messages // 4, 1000)
    from collectors.kafka import fastpath

    best = "native" if fastpath.available() else "bulk"
    rounds = paired(bootstrap, topic, messages, f"tap-{best}") if kcat_path() else []
    results: dict[str, dict[str, Any] | None] = {
        BARE: _child_best("bare", bootstrap, topic, messages),
        KCAT: _best([r["kcat"] for r in rounds]) if rounds else None,
        REFERENCE: _child("tap-reference", bootstrap, topic, min(messages, REFERENCE_SAMPLE)),
        BULK: _child("tap-bulk", bootstrap, topic, messages),
        f"tap, {best} path, first {quarter:,} only": _child(f"tap-{best}", bootstrap, topic, quarter),
        NATIVE: (_best([r["tap"] for r in rounds]) if rounds else _child_best("tap-native", bootstrap, topic, messages))
        if best == "native" else None,
        # the native path reading through confluent-kafka's Message objects: what the native consumer gains
        NATIVE_CONFLUENT: _child("tap-native~python", bootstrap, topic, messages) if best == "native" else None,
    }
    budget_runs = [_child(f"tap-{best}@{BUDGET_SIZE}", bootstrap, topic, messages) for _ in range(RUNS)]
    results[BUDGET] = _best(budget_runs)
    # the process a user runs, alternating with and without the budget: the target is its own
    collect_runs = {m: [] for m in (None, BUDGET_SIZE)}
    for _ in range(RUNS):
        for m, runs in collect_runs.items():
            runs.append(measure_collect(bootstrap, topic, messages, m))
    n_avro = min(messages, AVRO_SAMPLE)
    with tempfile.TemporaryDirectory() as schemas:
        avro_topic = ensure_avro_topic(bootstrap, n_avro, Path(schemas))
        json_same = _child(f"tap-{best}", bootstrap, topic, n_avro)
        avro = _child(f"tap-{best}", bootstrap, avro_topic, n_avro, schemas)
    yield f"after: {load_average()}"
    rate = {k: (v["records"] / v["seconds"] if v else None) for k, v in results.items()}
    for name, r in results.items():
        if r is None:
            why = ("not built (needs Rust at install)" if name in (NATIVE, NATIVE_CONFLUENT) else
                   "not installed: no ratio to kcat (Debian: apt-get install kcat)")
            yield f"{name:40s} {why}"
            continue
        mem = f"  peak RSS {r['peak_mb']:.0f} MiB" if r.get("peak_mb") else ""
        mem += f"  {r['spread']}" if r.get("spread") else ""
        mem += f"  CPU {r['cpu_us_per_record']:.1f} µs/record" if r.get("cpu_us_per_record") else ""
        yield f"{name:40s} {rate[name]:>10,.0f} records/s  ({r['seconds']:.2f}s){mem}"
    bare, kcat = rate[BARE], rate[KCAT]
    for i, r in enumerate(rounds, 1):
        k, t = r["kcat"], r["tap"]
        k_rate, t_rate = k["records"] / k["seconds"], t["records"] / t["seconds"]
        yield (f"round {i}, load average (1 min) {r['load']:.2f} on {os.cpu_count()} CPUs: kcat {k_rate:,.0f} "
               f"records/s, then the tap ({best}) {t_rate:,.0f} records/s "
               f"(peak RSS {t['peak_mb']:.0f} MiB): {t_rate / k_rate:.0%} of kcat")
    for name in (REFERENCE, BULK, NATIVE, NATIVE_CONFLUENT, BUDGET):
        r = results[name]
        if r is None:
            continue
        ratios = f"read by the {r['consumer']} consumer, {rate[name] / bare:.0%} of the bare loop"
        if kcat:
            ratios += f", {rate[name] / kcat:.0%} of kcat"
        yield (f"{name}: {ratios}; stored {r['stored']:,} ({r['with_event_id']:,} with event id, "
               f"{r['slow_path']:,} via record_row); RSS by quarter {r['rss_by_quarter_mb']} MiB; "
               f"CPU {r['cpu_us_per_record']:.1f} µs/record (all threads); wall µs/record per stage "
               f"{r['stage_us_per_record']}; CPU µs/record by thread {r['thread_cpu_us_per_record']}")
    tap = NATIVE if results[NATIVE] else BULK
    yield _budget_line(f"the tap ({best} path)", budget_runs, rate[BUDGET], rate[tap], kcat)
    collect_rate = {}
    for m, runs in collect_runs.items():
        fastest, peaks = _best(runs), ", ".join(f"{r['peak_mb']:.0f}" for r in runs)
        collect_rate[m] = fastest["records"] / fastest["seconds"]
        yield (f"seamwatch collect{f' --memory {m}' if m else ''} (first commit to last, best of {RUNS}): "
               f"{collect_rate[m]:,.0f} records/s ({fastest['spread']}), peak RSS {peaks} MiB "
               f"(with what the lag poller's child process alone holds: {fastest['children_mb']:.0f} MiB)")
    collected = (collect_runs[BUDGET_SIZE], collect_rate[BUDGET_SIZE], collect_rate[None])
    yield _budget_line("seamwatch collect", *collected, kcat)
    yield _budget_verdict("seamwatch collect", *collected)
    small = results[f"tap, {best} path, first {quarter:,} only"]
    yield (f"tap peak RSS: {small['peak_mb']:.0f} MiB after {small['records']:,} records, "
           f"{results[tap]['peak_mb']:.0f} MiB after {results[tap]['records']:,} (flat memory: about the same)")
    if tap == NATIVE:
        yield f"{NATIVE} vs {BULK}: {rate[NATIVE] / rate[BULK]:.2f}x"
        yield (f"{NATIVE} vs {NATIVE_CONFLUENT}: {rate[NATIVE] / rate[NATIVE_CONFLUENT]:.2f}x "
               f"(peak RSS {results[NATIVE]['peak_mb']:.0f} against {results[NATIVE_CONFLUENT]['peak_mb']:.0f} MiB)")
    json_rate, avro_rate = json_same["records"] / json_same["seconds"], avro["records"] / avro["seconds"]
    yield (f"wire-format Avro ({best} path + decode, {n_avro:,} records): {avro_rate:,.0f} records/s "
           f"({avro['decoded']:,} decoded, {avro['with_event_id']:,} with event id) beside JSON "
           f"{json_rate:,.0f} records/s over as many records ({avro_rate / json_rate:.0%} of JSON's); "
           f"wall µs/record per stage {avro['stage_us_per_record']}")
    if kcat:
        after = rate[tap]
        yield f"target: tap ≥ 25% of kcat (aim 40%): {'met' if after >= 0.25 * kcat else 'NOT met'} ({after / kcat:.0%})"


if __name__ == "__main__":
    mode, bs, tp, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "bare":
        res = measure_bare(bs, tp, n)
    else:  # tap-<path>[@<memory budget>], without pandas as `seamwatch collect` taps (collectors/memory_budget.py)
        from collectors.memory_budget import arrow_without_pandas

        arrow_without_pandas()
        path, _, memory = mode.removeprefix("tap-").partition("@")
        path, _, reader = path.partition("~")  # ~python: confluent-kafka's consumer (collectors/kafka/native_consumer.py)
        if reader:
            os.environ["SEAMWATCH_KAFKA_CONSUMER"] = reader
        res = measure_tap(bs, tp, n, path=path, schemas=sys.argv[5] if len(sys.argv) > 5 else None,
                          memory=memory or None)
    print(json.dumps(res))
