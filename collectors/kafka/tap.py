"""The topic tap: reads every wanted topic of a cluster into the store's records table, once.

Exactly-once without keys: each batch is written in the same DuckDB transaction as the
positions it reaches (topic, partition → next offset), and the tap assigns itself partitions
at those stored positions when it starts. Kafka consumer-group commits happen after the
store commit and only make the tap's own lag visible to the lag poller; they are never
read back. A stop, a kill -9 or a broker restart therefore neither loses nor repeats a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from collectors.interpreter import throughput_settings
from collectors.kafka import fastpath
from collectors.kafka.batch import BatchConverter, RawBatch
from collectors.kafka.config import KafkaSettings
from collectors.logrepeat import rate_limit
from collectors.model import INGEST_ERROR_SCHEMA, to_table
from collectors.pipeline import Pipeline
from collectors.runtime import ThreadComponent
from collectors.store import Store

log = logging.getLogger(__name__)
rate_limit(log)  # a broker away repeats the same error on every reconnect

CONSUME_MAX = 10_000  # messages per consume() call
PATHS = ("native", "bulk", "reference")  # per-record work in Rust; a DuckDB query; record_row each
MAX_BUFFER_BYTES = 64 << 20  # flush early when values are large: memory stays flat
_NOISE = {"_PARTITION_EOF", "_NO_OFFSET"}

# How the tap's consumer fetches; -X settings override these. Measured with the bench's bare
# consume loop (1M records of ~300 B, 4 partitions): librdkafka's defaults read ~190k records/s,
# because a full fetch queue postpones the partition's next fetch by fetch.queue.backoff.ms
# (1 s) while the application drains it; at 10 ms the same loop reads ~500k/s. The prefetch
# stays bounded in bytes (16 MB), so memory does not grow with the topic.
FETCH_TUNING: dict[str, Any] = {
    "fetch.queue.backoff.ms": 10,
    "queued.max.messages.kbytes": 16384,
    "max.partition.fetch.bytes": 2 << 20,
}


def _now_us() -> int:
    return time.time_ns() // 1000


class KafkaTap(ThreadComponent):
    """A Component (collectors.runtime) that runs one consumer on a background thread."""

    def __init__(self, store: Store, settings: KafkaSettings, *, from_beginning: bool = False,
                 path: str = "auto") -> None:
        if path == "auto":
            path = "native" if fastpath.available() else "bulk"
            if path == "bulk":
                log.warning("the tap's native path was not built (no Rust toolchain at install): it reads "
                            "about half as fast; reinstall with cargo on the PATH for the native path")
        if path not in PATHS:
            raise ValueError(f"unknown tap path {path!r}; one of {', '.join(PATHS)}")
        if path == "native" and not fastpath.available():
            raise ValueError("the native tap path was not built (it needs a Rust toolchain at install)")
        self.path = path
        self._native_capture = path == "native"  # until the native capture fails on a message
        self.store = store
        self.settings = settings
        self.cluster = settings.cluster_name
        self.name = f"kafka-tap[{self.cluster}]"
        self.from_beginning = from_beginning
        super().__init__()
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "stopped", "records": 0, "batches": 0, "errors": 0,
                                        "last_error": None, "last_flush_at": None, "partitions": 0,
                                        "path": path, "seconds_by_stage": {}}
        self._assigned: dict[tuple[str, int], int] = {}  # (topic, partition) -> where reading began
        self._to_commit: deque[list[Any]] = deque()  # written batches' offsets, for Kafka

    # -- Component ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._set(state="starting")
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        # the last batch is being written: let it finish rather than cut a transaction short
        super().stop(max(timeout, 60.0))

    def status(self) -> dict[str, Any]:
        # the path this session runs: native until a native capture fails, then bulk
        path = "bulk" if self.path == "native" and not self._native_capture else self.path
        with self._lock:
            return {**self._status, "path": path, "seconds_by_stage": dict(self._status["seconds_by_stage"]),
                    "settings": self.settings.describe()}

    # -- internals ------------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status.update(kw)

    def _error_cb(self, err: Any) -> None:
        # librdkafka reconnects by itself; this only tells the dashboard what is going on
        self._set(state="retrying" if err.code() in _TRANSPORT else self._status["state"],
                  last_error=f"{err.name()}: {err.str()}")
        log.warning("%s: %s", self.name, err.str())

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        conf = {**FETCH_TUNING, **self.settings.client_conf(**{
            "group.id": self.settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "error_cb": self._error_cb,
        })}
        conf.setdefault("client.id", "seamwatch-tap")
        return Consumer(conf)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                with throughput_settings():
                    self._session()
                return
            except Exception as exc:  # noqa: BLE001 (the tap retries whatever went wrong)
                log.warning("%s failed, retrying in %.0fs: %s", self.name, backoff, exc)
                self._set(state="retrying", last_error=str(exc))
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
        self._set(state="stopped")

    def _session(self) -> None:
        """One consumer's life: assign at stored positions, consume, hand batches on.

        Three threads share the work, each batch passing through them in order: this one
        consumes and puts each batch's fields into Arrow columns (Python, holding the GIL);
        the normalizer runs the vectorised envelope work (Arrow compute and DuckDB, which
        release the GIL); the writer runs the store transaction. So one batch is written while
        the next is normalized and a third consumed. If a write fails the session ends and
        the next one resumes from the store.
        """
        consumer = self._consumer()
        native = self.path == "native"
        conv = (fastpath.NativeConverter if native else BatchConverter)(
            cluster=self.cluster, source=f"kafka:{self.cluster}", dlt_patterns=self.settings.dlt_patterns,
            bulk=self.path != "reference")
        self._native_capture = native
        log.info("%s: per-record work on the %s path", self.name, self.path)
        stages = Pipeline(self.name, [("normalizer", lambda item: self._normalize(conv, *item)),
                                      ("writer", self._write)])
        self._assigned = {}
        buf: list[Any] = []  # this batch's consumed chunks (RawBatch or NativeBatch), already in columns
        buf_rows = buf_bytes = 0

        def hand_over() -> None:
            """The buffered chunks, as one batch, to the normalizer; waits while the stages are busy."""
            nonlocal buf, buf_rows, buf_bytes
            stages.put((type(buf[0]).concat(buf), _now_us()))
            buf, buf_rows, buf_bytes = [], 0, 0

        first = True
        next_refresh = 0.0
        batch_started = time.monotonic()
        try:
            while not self._stop.is_set() and stages.failure is None:
                now = time.monotonic()
                if now >= next_refresh:
                    self._refresh(consumer, initial=first)
                    first = False
                    next_refresh = now + self.settings.topic_refresh
                if not self._assigned:
                    self._stop.wait(min(self.settings.topic_refresh, 1.0))
                    continue
                self._commit(consumer)
                msgs = consumer.consume(num_messages=CONSUME_MAX, timeout=0.2)
                if msgs:
                    good = [m for m in msgs if m.error() is None]
                    if len(good) != len(msgs):
                        self._consume_errors(m for m in msgs if m.error() is not None)
                    if good:
                        if not buf:
                            batch_started = time.monotonic()
                        t0 = time.perf_counter()
                        chunk = self._capture(good)  # the Message objects go now
                        if buf and type(chunk) is not type(buf[0]):  # the capture fell back: one kind a batch
                            hand_over()
                        self._add_time("extract_s", time.perf_counter() - t0)
                        buf.append(chunk)
                        buf_rows += chunk.num_rows
                        buf_bytes += chunk.nbytes
                    del msgs, good
                if buf and (buf_rows >= self.settings.batch_messages or buf_bytes >= MAX_BUFFER_BYTES
                            or time.monotonic() - batch_started >= self.settings.batch_seconds):
                    t0 = time.perf_counter()
                    hand_over()
                    self._add_time("hand_over_s", time.perf_counter() - t0)
            if buf and stages.failure is None:
                hand_over()
        finally:
            stages.close()
            self._commit(consumer, final=True)
            conv.close()
            consumer.close()
            self._set(state="stopped")
        if stages.failure is not None:
            raise stages.failure

    def _capture(self, msgs: list[Any]) -> Any:
        """A consume() call's messages in columns: natively when built, else in Python. A
        message the native capture cannot take (a bug, never data) switches this session to
        Python rather than stopping the tap."""
        if self._native_capture:
            try:
                return fastpath.NativeBatch.from_messages(msgs)
            except Exception as exc:  # noqa: BLE001
                log.error("%s: native capture failed (%s); the bulk-query path takes over", self.name, exc)
                self._native_capture = False
                self._set(last_error=f"native capture failed: {exc}")
        return RawBatch.from_messages(msgs)

    def _commit(self, consumer: Any, *, final: bool = False) -> None:
        """Tell Kafka what the store already holds: only the tap's own lag depends on it."""
        while self._to_commit:
            offsets = self._to_commit.popleft()
            try:
                consumer.commit(offsets=offsets, asynchronous=not final)
            except Exception as exc:  # noqa: BLE001 (lag visibility only; the store has the truth)
                log.debug("%s: commit failed: %s", self.name, exc)

    def _add_time(self, stage: str, seconds: float) -> None:
        with self._lock:  # where the time goes (the benchmark prints these; the dashboard does not)
            by_stage = self._status["seconds_by_stage"]
            by_stage[stage] = by_stage.get(stage, 0.0) + seconds

    def _refresh(self, consumer: Any, *, initial: bool) -> None:
        """Assign new wanted partitions (new topics too); drop those of deleted topics."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaException, TopicPartition

        try:
            md = consumer.list_topics(timeout=10)
        except KafkaException as exc:  # broker away: keep the assignment, librdkafka reconnects
            self._set(state="retrying", last_error=str(exc))
            return
        present = {(t, p) for t, tm in md.topics.items() if tm.error is None and self.settings.wants(t)
                   for p in tm.partitions}
        stored = self.store.positions(self.cluster) if initial or present - self._assigned.keys() else {}
        new = []
        for tp in sorted(present - self._assigned.keys()):
            if tp in stored:
                offset = stored[tp]
            elif initial and not self.from_beginning:
                offset = OFFSET_END
            else:  # a topic or partition that appeared while we run: all of it
                offset = OFFSET_BEGINNING
            new.append(TopicPartition(tp[0], tp[1], offset))
            self._assigned[tp] = offset
        gone = [TopicPartition(t, p) for t, p in self._assigned.keys() - present]
        if new:
            consumer.incremental_assign(new)
            log.info("%s: reading %d new partitions", self.name, len(new))
        if gone:
            consumer.incremental_unassign(gone)
            for tp in gone:
                self._assigned.pop((tp.topic, tp.partition), None)
        topics = sorted({t for t, _ in self._assigned})
        self._set(state="running", partitions=len(self._assigned), topics=topics)

    def _consume_errors(self, errs: Any) -> None:
        for m in errs:
            err = m.error()
            if err.name() in _NOISE:
                continue
            self._set(last_error=f"{err.name()}: {err.str()}")
            log.warning("%s: %s", self.name, err.str())

    def _normalize(self, conv: BatchConverter, raw: Any, tapped: int) -> tuple[Any, ...]:
        """The batch's record rows and ingest errors, and the positions it reaches."""
        t0 = time.perf_counter()
        try:
            table, errors = conv.convert_raw(raw, tapped_at_us=tapped)
        except (Exception, fastpath.PanicException):  # the fast path choked: the reference never does
            log.exception("%s: fast normalize failed, using record_row for this batch", self.name)
            table, errors = conv.reference_fields(raw.all_fields(), tapped_at_us=tapped)
        positions = raw.positions()
        self._add_time("normalize_s", time.perf_counter() - t0)
        self._set(slow_path_records=conv.slow_rows)
        return table, errors, positions, tapped

    def _write(self, item: tuple[Any, ...]) -> None:
        """Write the batch and the positions it reaches in one transaction, then tell Kafka."""
        from confluent_kafka import TopicPartition

        table, errors, positions, tapped = item
        t0 = time.perf_counter()
        with self.store.transaction() as tx:
            tx.append("records", table)
            if errors:
                tx.append("ingest_errors", to_table(errors, INGEST_ERROR_SCHEMA))
            tx.set_positions((self.cluster, t, p, o) for t, p, o in positions)
        # the consumer thread commits to Kafka (the client blocks a commit from another thread)
        self._to_commit.append([TopicPartition(t, p, o) for t, p, o in positions])
        self._add_time("write_s", time.perf_counter() - t0)
        with self._lock:
            s = self._status
            s["records"] += table.num_rows
            s["batches"] += 1
            s["errors"] += len(errors)
            s["last_flush_at"] = tapped
            if s["state"] == "retrying":
                s["state"] = "running"


def _transport_codes() -> set[int]:
    try:
        from confluent_kafka import KafkaError
    except ImportError:  # pragma: no cover
        return set()
    return {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,  # noqa: SLF001
            KafkaError._TIMED_OUT, KafkaError.NETWORK_EXCEPTION}  # noqa: SLF001


_TRANSPORT = _transport_codes()
