"""The topic tap: reads every wanted topic of a cluster into the store's records table, once.

Exactly-once without keys: each batch is written in the same DuckDB transaction as the
positions it reaches (topic, partition → next offset), and the tap assigns itself partitions
at those stored positions when it starts. Kafka consumer-group commits happen after the
store commit and only make the tap's own lag visible to the lag poller; they are never
read back. A stop, a kill -9 or a broker restart therefore neither loses nor repeats a record.

On a lake (collectors/store/lake.py) several collectors share the store, so the tap joins its
consumer group instead (``--tap-group``) and Kafka's group protocol splits the partitions among
them (docs/architecture.md#many-collectors): each partition it is given starts at the position
stored in the lake, and before one is taken away the tap writes what it has read of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collectors.errors import first_line
from collectors.interpreter import throughput_settings
from collectors.kafka import fastpath, native_consumer, normalizers, resume_gaps
from collectors.kafka.config import KafkaSettings
from collectors.kafka.generations import Generations
from collectors.kafka.normalizers import Normalizer
from collectors.kafka.topic_settings import TopicSettings
from collectors.kafka.wire_records import WireRecords
from collectors.logrepeat import rate_limit
from collectors.model import INGEST_ERROR_SCHEMA, error_row, to_table
from collectors.pipeline import Pipeline
from collectors.runtime import ThreadComponent
from collectors.status import TapStatus, us_to_s
from collectors.store import Store, faults

log = logging.getLogger(__name__)
rate_limit(log)  # a broker away repeats the same error on every reconnect

CONSUME_MAX = 10_000  # messages per consume() call (fewer when a memory budget makes batches smaller)
_NOISE = {"_PARTITION_EOF", "_NO_OFFSET"}
_HINTS = {"TOPIC_AUTHORIZATION_FAILED": " (an ACL denies the collector's login READ on this topic: its other topics "
                                        "are tapped meanwhile, and this one once READ is granted)"}

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
                 path: str = "auto", wire: WireRecords | None = None) -> None:
        self.path = normalizers.resolve(path)  # one of PATHS
        self.wire = wire  # schema-registry decoding of wire-format values (None: stored as bytes)
        self.store = store
        self.settings = settings
        self.cluster = settings.cluster_name
        # the session's normalizer: the chosen path until a native capture fails, then its fallback
        self._normalizer: Normalizer = self._choose()
        self.name = f"kafka-tap[{self.cluster}]"
        self.from_beginning = from_beginning
        super().__init__()
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "stopped", "records": 0, "batches": 0, "errors": 0,
                                        "records_deleted_unread": 0, "last_error": None, "last_flush_at": None,
                                        "partitions": 0, "path": self.path, "consumer": "python",
                                        "seconds_by_stage": {}}
        self._assigned: dict[tuple[str, int], int] = {}  # (topic, partition) -> where reading began
        self._topic_ids: dict[str, str] = {}  # topic -> Kafka's topic id, kept with each position written
        self._generations = Generations(self.cluster)  # topics created again, until their new records are stored
        # each topic's cleanup.policy, asked once a session and written with a batch when it changed
        self._topic_settings = TopicSettings(self.cluster, self._session_admin, self.name)
        self._admin: Any = None  # the session's AdminClient for the topics' ids and settings
        self._admin_lock = threading.Lock()
        # the consume loop's look for topics created again: due at each refresh, asked on a thread
        self._ids_due = False
        self._ids_thread: threading.Thread | None = None
        self._ids_session = object()  # a new one each session: an answer for an older one is dropped
        self._ids_answers: deque[tuple[object, list[str], dict[str, str], datetime]] = deque(maxlen=1)
        self._id_seen_at: dict[str, datetime] = {}  # topic -> when the broker last gave the id in _topic_ids
        self._to_commit: deque[list[Any]] = deque()  # written batches' offsets, for Kafka
        # group mode (a lake): batches handed to the pipeline and not yet written, and what the
        # rebalance callbacks need of the session under way
        self._in_flight = 0
        self._flushed = threading.Condition(self._lock)
        self._session_parts: tuple[Pipeline, _Buffer] | None = None
        self._subscribed: tuple[str, ...] | None = None
        self._fault: str | None = None  # the lake fault the last session ended on (collectors/store/faults.py)
        self._assign_failure: BaseException | None = None  # the stored positions could not be read
        self._native_read_failed = False  # the native consumer failed once: confluent-kafka's reads from then on

    # -- Component ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._set(state="starting")
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        # the last batch is being written: let it finish rather than cut a transaction short
        super().stop(max(timeout, 60.0))

    def status(self) -> TapStatus:
        wire = self.wire
        with self._lock:  # the path this session runs: native until a native capture fails, then bulk
            s = self._status
            return TapStatus(state=s["state"], path=self._normalizer.path, consumer=s["consumer"], records=s["records"],
                             batches=s["batches"],
                             errors=s["errors"], records_deleted_unread=s["records_deleted_unread"],
                             partitions=s["partitions"], topics=tuple(s.get("topics", ())),
                             slow_path_records=s.get("slow_path_records", 0),
                             last_flush_at=us_to_s(s["last_flush_at"]),  # kept in µs like the rows' times
                             last_error=s["last_error"],
                             schema_registry=None if wire is None else wire.describe(),  # secrets redacted
                             wire_decoded=0 if wire is None else wire.decoder.decoded,
                             wire_kept_raw=0 if wire is None else wire.kept_raw,
                             seconds_by_stage=dict(s["seconds_by_stage"]), settings=self.settings.describe())

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

        conf = {**FETCH_TUNING, **self.settings.fetch, **self.settings.client_conf(**{
            "group.id": self.settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # the tap moves a position the broker no longer holds itself, and says what was lost
            # (_reset): librdkafka would move it to the start and say so only in its own log
            "auto.offset.reset": "error",
            "enable.partition.eof": False,
            "error_cb": self._error_cb,
        })}
        conf.setdefault("client.id", "seamwatch-tap")
        if self._grouped:
            # incremental rebalances: a collector joining or leaving moves only the partitions it must
            conf["partition.assignment.strategy"] = "cooperative-sticky"
        elif (self.wire is None and self._normalizer.path == "native" and not self._native_read_failed
              and native_consumer.chosen() == "native"):
            # records straight into native chunks (collectors/kafka/native_consumer.py)
            return native_consumer.NativeConsumer(conf)
        return Consumer(conf)

    @property
    def _grouped(self) -> bool:
        """True when partitions come from the consumer group (a lake, shared by several collectors)."""
        return bool(getattr(self.store, "lake", False))

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                with throughput_settings():
                    self._session()
                return
            except Exception as exc:  # noqa: BLE001 (the tap retries whatever went wrong)
                reason = faults.describe(exc, self.store.path)  # one line, a lake's fault in its words
                kind = faults.classify(exc, self.store.path).kind if self.store.lake else None
                # one line per outage of the lake: its later retries only at debug level
                level = logging.DEBUG if kind is not None and kind == self._fault else logging.WARNING
                log.log(level, "%s failed, resuming from the store's positions in %.0fs: %s", self.name, backoff,
                        reason)
                self._fault = kind
                self._set(state="retrying", last_error=reason)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
        self._set(state="stopped")

    def _choose(self) -> Normalizer:
        return normalizers.choose(self.path, cluster=self.cluster, source=f"kafka:{self.cluster}",
                                  dlt_patterns=self.settings.dlt_patterns)

    def _session(self) -> None:
        """One consumer's life: assign at stored positions, consume, hand batches on.

        Three threads share the work, each batch passing through them in order: this one
        consumes and puts each batch's fields into columns (the normalizer's capture, holding
        the GIL); the normalizer thread converts them to record rows (Rust, Arrow compute or
        DuckDB, which release the GIL); the writer runs the store transaction. So one batch is
        written while the next is normalized and a third consumed. If a write fails the session
        ends and the next one resumes from the store.
        """
        self.store.positions(self.cluster)  # the store answers (a lake's catalog is up) before joining the group
        self._topic_settings.new_session()
        self._assign_failure = None
        self._normalizer = self._choose()
        consumer = self._consumer()
        used = [self._normalizer]  # closed when the session ends
        reader = "native" if isinstance(consumer, native_consumer.NativeConsumer) else "python"
        self._set(consumer=reader)
        log.info("%s: per-record work on the %s path, reading with %s", self.name, self.path,
                 "the native consumer" if reader == "native" else "confluent-kafka's consumer")
        stages = Pipeline(self.name, [("normalizer", self._normalize), ("writer", self._write)],
                          depth=self.settings.queued_batches)
        self._assigned = {}
        self._topic_ids = {}  # asked again each session: a topic may have been created again meanwhile
        self._admin = None
        self._ids_session, self._ids_due = object(), False
        self._subscribed = None
        self._in_flight = 0  # a failed session's skipped batches are not in flight
        buf = _Buffer()
        self._session_parts = (stages, buf)
        try:
            self._consume(consumer, stages, buf, used)
            if buf.chunks and stages.failure is None:
                self._hand_over(stages, buf)
        finally:
            stages.close()
            self._commit(consumer, final=True)
            for normalizer in used:
                normalizer.close()
            consumer.close()
            self._set(state="stopped")
        if stages.failure is not None:
            raise stages.failure

    def _consume(self, consumer: Any, stages: Pipeline, buf: _Buffer, used: list[Normalizer]) -> None:
        """Until stopped or a stage failed: keep the assignment fresh, consume into the buffer,
        hand the buffer over when it is due."""
        first = True
        next_refresh = 0.0
        while not self._stop.is_set() and stages.failure is None:
            if self._assign_failure is not None:
                failure, self._assign_failure = self._assign_failure, None
                raise failure
            now = time.monotonic()
            if now >= next_refresh:
                if self._grouped:
                    self._subscribe(consumer)
                else:
                    self._refresh(consumer, initial=first)
                self._ids_due = True
                first = False
                next_refresh = now + self.settings.topic_refresh
            if not self._assigned and not (self._grouped and self._subscribed):
                self._stop.wait(min(self.settings.topic_refresh, 1.0))
                continue
            self._look_for_recreated(consumer, lambda: self._hand_over(stages, buf) if buf.chunks else None)
            self._commit(consumer)
            self._poll(consumer, stages, buf, used)
            if buf.due(self.settings):
                t0 = time.perf_counter()
                self._hand_over(stages, buf)
                self._add_time("hand_over_s", time.perf_counter() - t0)

    def _poll(self, consumer: Any, stages: Pipeline, buf: _Buffer, used: list[Normalizer]) -> None:
        """One consume() call's good messages, captured into the buffer (the Messages go with this frame)."""
        t0 = time.perf_counter()
        # no more than the batch still takes: a batch is then exactly batch_messages long (what a
        # memory budget sized) instead of overshooting it by most of a consume() call
        want = min(CONSUME_MAX, max(self.settings.batch_messages - buf.rows, 1))
        if isinstance(consumer, native_consumer.NativeConsumer):
            self._poll_native(consumer, want, stages, buf)
            return
        msgs = consumer.consume(num_messages=want, timeout=0.2)
        good = [m for m in msgs if m.error() is None]
        if len(good) != len(msgs):
            self._consume_errors(consumer, [m for m in msgs if m.error() is not None])
        if not good:
            return
        # librdkafka's fetch queue to Python Message objects (waiting included when the topic is idle)
        self._add_time("consume_s", time.perf_counter() - t0)
        started = time.monotonic()
        t0 = time.perf_counter()
        picked = self.wire.pick(good) if self.wire is not None else None
        normalizer, chunk = self._capture(good)
        if normalizer not in used:
            used.append(normalizer)
        if buf.chunks and buf.normalizer is not normalizer:  # the capture fell back: one normalizer a batch
            self._hand_over(stages, buf)
        self._add_time("extract_s", time.perf_counter() - t0)
        buf.add(normalizer, chunk, started, picked)

    def _poll_native(self, consumer: native_consumer.NativeConsumer, want: int, stages: Pipeline,
                     buf: _Buffer) -> None:
        """One read of the native consumer: its records arrive captured, in a chunk."""
        t0 = time.perf_counter()
        try:
            batch, errors = consumer.consume_chunk(want, 0.2)
        except (Exception, fastpath.PanicException) as exc:  # a bug, never data (a broker's errors are returned)
            # the session ends; the next one reads with confluent-kafka from the store's positions, so
            # what this session read and did not write yet is read again, nothing lost or repeated
            self._native_read_failed = True
            raise RuntimeError(f"the native consumer failed ({first_line(exc)}); confluent-kafka's consumer "
                               "takes over") from None
        if errors:
            self._consume_errors(consumer, errors)
        if batch is None:
            return
        # librdkafka's fetch queue to a native chunk (waiting included when the topic is idle)
        self._add_time("consume_s", time.perf_counter() - t0)
        if buf.chunks and buf.normalizer is not self._normalizer:  # one normalizer a batch
            self._hand_over(stages, buf)
        buf.add(self._normalizer, batch, time.monotonic())

    def _hand_over(self, stages: Pipeline, buf: _Buffer) -> None:
        """The buffered chunks, as one batch, to the normalizer thread; waits while the stages are busy."""
        normalizer, batch, picked = buf.take()
        with self._lock:
            self._in_flight += 1
        stages.put((normalizer, batch, _now_us(), picked))

    def _capture(self, msgs: list[Any]) -> tuple[Normalizer, Any]:
        """A consume() call's messages in columns, by the session's normalizer. A message the
        native capture cannot take (a bug, never data) switches this session to the fallback
        rather than stopping the tap."""
        normalizer = self._normalizer
        try:
            return normalizer, normalizer.capture(msgs)
        except Exception as exc:
            fallback = normalizer.fallback()
            if fallback is None:
                raise
            log.error("%s: %s capture failed (%s); the %s path takes over", self.name, normalizer.path, exc,
                      fallback.path)
            with self._lock:
                self._normalizer = fallback
                self._status["last_error"] = f"{normalizer.path} capture failed: {exc}"
        return fallback, fallback.capture(msgs)

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
        adding = present - self._assigned.keys()
        stored = self._stored_positions({t for t, _ in adding}) if adding else {}
        new = []
        for tp in sorted(adding):
            if tp in stored:
                offset = stored[tp]
            elif initial and not self.from_beginning:
                offset = OFFSET_END
            else:  # a topic or partition that appeared while we run: all of it
                offset = OFFSET_BEGINNING
            new.append(TopicPartition(tp[0], tp[1], offset))
            self._assigned[tp] = offset
        gone = [TopicPartition(t, p) for t, p in self._assigned.keys() - present]
        for topic in {tp.topic for tp in gone} - {t for t, _ in present}:
            self._topic_ids.pop(topic, None)  # created again later, it has a new id: asked anew
        if new:
            consumer.incremental_assign(new)
            # a stored position the partition no longer holds comes back as an error (_reset)
            log.info("%s: reading %d new partitions", self.name, len(new))
        if gone:
            consumer.incremental_unassign(gone)
            for tp in gone:
                self._assigned.pop((tp.topic, tp.partition), None)
        topics = sorted({t for t, _ in self._assigned})
        self._set(state="running", partitions=len(self._assigned), topics=topics)

    # -- group mode (a lake) ----------------------------------------------------------------
    def _subscribe(self, consumer: Any) -> None:
        """Subscribe to the wanted topics, again when that set changes; the group assigns partitions."""
        from confluent_kafka import KafkaException

        try:
            md = consumer.list_topics(timeout=10)
        except KafkaException as exc:  # broker away: keep the subscription, librdkafka reconnects
            self._set(state="retrying", last_error=str(exc))
            return
        wanted = tuple(sorted(t for t, tm in md.topics.items() if tm.error is None and self.settings.wants(t)))
        if wanted and wanted != self._subscribed:
            consumer.subscribe(list(wanted), on_assign=self._on_assign, on_revoke=self._on_revoke,
                               on_lost=self._on_lost)
            self._subscribed = wanted
            log.info("%s: in group %s for %d topics", self.name, self.settings.group_id, len(wanted))
        self._set(state="running", partitions=len(self._assigned), topics=sorted({t for t, _ in self._assigned}))

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Partitions the group gives this collector start where the lake says they stopped."""
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

        try:
            stored = self._stored_positions({tp.topic for tp in partitions})
        except Exception as exc:  # noqa: BLE001 (raised in librdkafka's callback it would lose its words)
            self._assign_failure = exc  # the session ends on it, and the next one starts over
            return
        start = OFFSET_BEGINNING if self.from_beginning else OFFSET_END
        given = [TopicPartition(tp.topic, tp.partition, stored.get((tp.topic, tp.partition), start))
                 for tp in partitions]
        consumer.incremental_assign(given)
        for tp in given:
            self._assigned[(tp.topic, tp.partition)] = tp.offset
        # a stored position the partition no longer holds comes back as an error (_reset)
        log.info("%s: the group gave %d partitions", self.name, len(given))
        self._set(partitions=len(self._assigned), topics=sorted({t for t, _ in self._assigned}))

    # -- resuming --------------------------------------------------------------------------
    def _stored_positions(self, topics: set[str]) -> dict[tuple[str, int], int]:
        """Where the store says the tap stopped, for the topics' ids now (asked of the cluster first):
        a partition of a topic created again since then starts at the beginning, and that is said."""
        from confluent_kafka import OFFSET_BEGINNING

        points = self.store.resume_points(self.cluster)
        self._topic_settings.assigned(topics)  # on a thread of their own
        ids = resume_gaps.topic_ids(self.settings.client_conf(), sorted(t for t in topics if t not in self._topic_ids))
        self._topic_ids.update(ids)
        now = datetime.now(UTC).replace(tzinfo=None)
        self._id_seen_at.update((t, now) for t in ids)
        positions, recreated = resume_gaps.choose(points, {t: self._topic_ids[t] for t in topics
                                                           if t in self._topic_ids})
        if recreated:
            for topic in {r.topic for r in recreated}:
                self._generations.found(topic, self._topic_ids[topic], _last_seen(points, topic), now)
            self._tell([(f"{r.topic}/{r.partition}/{r.position}", r.sentence()) for r in recreated],
                       resume_gaps.recreated_lines(recreated))
        return {**positions, **{(r.topic, r.partition): OFFSET_BEGINNING for r in recreated}}

    def _check_refused(self, resumed: dict[tuple[str, int], int]) -> None:
        """Where the partitions begin and end around these positions the broker refused (_reset), and
        what was lost (collectors/kafka/resume_gaps.py), on a thread of its own: reading goes on."""
        if resumed:
            threading.Thread(target=self._report_gaps, args=(dict(resumed),), name=f"{self.name}-resume",
                             daemon=True).start()

    def _report_gaps(self, resumed: dict[tuple[str, int], int]) -> None:
        try:
            gaps = resume_gaps.find(self.settings.client_conf(), resumed)
        except Exception as exc:  # noqa: BLE001 (a check that cannot run must not touch the tap)
            log.debug("%s: checking the resumed positions: %s", self.name, exc)
            return
        if not gaps:
            return
        with self._lock:
            self._status["records_deleted_unread"] += sum(g.deleted for g in gaps)
        self._tell([(f"{g.topic}/{g.partition}/{g.position}", g.sentence()) for g in gaps])

    def _tell(self, said: list[tuple[str, str]], lines: list[str] | None = None) -> None:
        """Say what the tap could not read as it was: each (location, sentence) is kept as an
        ingest error, where the dashboard counts them, and logged (or ``lines`` are, in its stead)."""
        now = _now_us()
        rows = [error_row("kafka", location, sentence, None, now) for location, sentence in said]
        for line in lines if lines is not None else [sentence for _, sentence in said]:
            log.warning("%s: %s", self.name, line)
        try:
            faults.retry_conflicts(lambda: self._append_errors(rows), what=self.name)
        except Exception as exc:  # noqa: BLE001 (the log line above said it)
            log.debug("%s: recording what the tap could not read: %s", self.name, exc)

    def _append_errors(self, rows: list[dict[str, Any]]) -> None:
        with self.store.transaction() as tx:
            tx.append("ingest_errors", to_table(rows, INGEST_ERROR_SCHEMA))

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Before a partition moves to another collector: write everything read so far, then let go."""
        self._write_all()
        self._commit(consumer, final=True)
        consumer.incremental_unassign(partitions)
        for tp in partitions:
            self._assigned.pop((tp.topic, tp.partition), None)
        self._set(partitions=len(self._assigned), topics=sorted({t for t, _ in self._assigned}))

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        # the group gave them away already (this collector missed its session timeout): what it
        # still writes of them may repeat what the new owner reads (README, "Outgrowing one machine")
        log.warning("%s: lost %d partitions to the group", self.name, len(partitions))
        self._on_revoke(consumer, partitions)

    def _write_all(self) -> None:
        """Hand over the buffer and wait until every batch handed over is written (or the writer failed)."""
        if self._session_parts is None:
            return
        stages, buf = self._session_parts
        if buf.chunks and stages.failure is None:
            self._hand_over(stages, buf)
        with self._flushed:
            while self._in_flight > 0 and stages.failure is None:
                self._flushed.wait(0.5)

    def _consume_errors(self, consumer: Any, errs: list[Any]) -> None:
        """librdkafka's errors from consume(), each once as it reports them, naming the partition it
        names. A partition the login may not read fails alone: the others are read meanwhile, and
        librdkafka fetches it again by itself, so an ACL granted later is tapped without a restart.
        A position the broker no longer holds is moved to the partition's start (:meth:`_reset`)."""
        for m in errs:
            err = m.error()
            if err.name() in _NOISE:
                continue
            topic, partition = m.topic(), m.partition()
            if err.code() == _AUTO_OFFSET_RESET and topic and partition is not None and partition >= 0:
                self._reset(consumer, topic, partition, m.offset())
                continue
            where = f"{topic}/{partition}: " if topic and partition is not None and partition >= 0 else ""
            hint = _HINTS.get(err.name(), "")
            self._set(last_error=f"{err.name()}: {where}{err.str()}")
            log.warning("%s: %s%s%s", self.name, where, err.str(), hint)

    def _reset(self, consumer: Any, topic: str, partition: int, position: int) -> None:
        """The broker no longer holds the offset the tap reads next (``auto.offset.reset=error``):
        retention deleted records before the tap read them, while it was away (a position
        resumed from the store) or while it ran behind; or the partition now ends before it (the
        topic created again, or truncated). The tap reads on from the partition's start and, on a
        thread of its own, asks the cluster where that is and says what was lost
        (collectors/kafka/resume_gaps.py)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        if self._recreated(consumer, [topic]):
            return
        consumer.incremental_unassign([TopicPartition(topic, partition)])
        consumer.incremental_assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        self._assigned[(topic, partition)] = OFFSET_BEGINNING
        if position >= 0:
            self._check_refused({(topic, partition): position})

    def _recreated(self, consumer: Any, topics: list[str], *,
                   before_rewind: Callable[[], None] | None = None) -> list[str]:
        """Which of ``topics`` (read now) were deleted and created again under the tap: their ids changed
        (one DescribeTopics request). A topic created again between two looks for topics keeps its
        partitions assigned at the old topic's positions; where the new topic holds that many
        records, nothing fails and its first records would never be read. Such a topic is read again
        from its start, as a new generation, and its positions are written with its new id (else the
        next session would take it for one created again since, and read it twice).

        ``before_rewind`` hands over the records read so far: those read at the old positions go in
        batches of their own, and the generation begins with the first records read after the rewind
        (collectors/kafka/generations.py)."""

        asked = [t for t in topics if t in self._topic_ids]
        ids, asked_at = self._ask_ids(asked)
        return self._apply_ids(consumer, asked, ids, asked_at, before_rewind=before_rewind)

    def _ask_ids(self, asked: list[str]) -> tuple[dict[str, str], datetime]:
        """The topics' ids as the cluster gives them now (one DescribeTopics request), and when."""
        asked_at = datetime.now(UTC).replace(tzinfo=None)
        if not asked:
            return {}, asked_at
        admin = self._session_admin()
        if admin is None:  # (said at debug level; asked again at the next look)
            return {}, asked_at
        return resume_gaps.topic_ids(self.settings.client_conf(), asked, admin=admin), asked_at

    def _session_admin(self) -> Any:
        """The session's AdminClient (made at its first use; None when it cannot be made): one for the
        topics' ids and settings, from whichever thread asks first."""
        with self._admin_lock:
            if self._admin is None:
                self._admin = resume_gaps.admin_client(self.settings.client_conf())
            return self._admin

    def _look_for_recreated(self, consumer: Any, before_rewind: Callable[[], None]) -> None:
        """The consume loop's look for topics created again: the assigned topics' ids are asked on a
        thread of their own (a cluster slow to answer DescribeTopics must not stop the reading), and
        the answer is applied here, on the consume thread, at its next turn after it came."""
        while self._ids_answers:  # (appended by the asking thread, taken here: both atomic)
            session, asked, ids, asked_at = self._ids_answers.popleft()
            if session is self._ids_session:
                self._apply_ids(consumer, asked, ids, asked_at, before_rewind=before_rewind)
        due, self._ids_due = self._ids_due, False
        if not due or (self._ids_thread is not None and self._ids_thread.is_alive()):
            return
        asked = [t for t in sorted({t for t, _ in self._assigned}) if t in self._topic_ids]
        if not asked:
            return
        session = self._ids_session

        def ask() -> None:
            try:
                ids, asked_at = self._ask_ids(asked)
            except Exception as exc:  # noqa: BLE001 (a look that cannot run is tried at the next refresh)
                log.debug("%s: asking the topics' ids: %s", self.name, exc)
                return
            self._ids_answers.append((session, asked, ids, asked_at))

        self._ids_thread = threading.Thread(target=ask, name=f"{self.name}-ids", daemon=True)
        self._ids_thread.start()

    def _apply_ids(self, consumer: Any, asked: list[str], ids: dict[str, str], asked_at: datetime, *,
                   before_rewind: Callable[[], None] | None = None) -> list[str]:
        """Read again from its start each of ``asked`` whose id changed (see _recreated)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        changed = [t for t in asked if t in self._topic_ids and ids.get(t) not in (None, self._topic_ids[t])]
        if changed and before_rewind is not None:
            before_rewind()
        now = datetime.now(UTC).replace(tzinfo=None)  # after the hand-over: later batches are read after it
        for topic in changed:
            # the old topic was alive when its id was last seen (not when a position was last stored:
            # the tap may have read on into the new topic under the old id since)
            self._generations.found(topic, ids[topic], self._id_seen_at.get(topic), now)
            self._topic_ids[topic] = ids[topic]
            parts = [TopicPartition(t, p) for t, p in self._assigned if t == topic]
            consumer.incremental_unassign(parts)
            consumer.incremental_assign([TopicPartition(topic, tp.partition, OFFSET_BEGINNING) for tp in parts])
            for tp in parts:
                self._assigned[(topic, tp.partition)] = OFFSET_BEGINNING
            log.warning("%s: %s was deleted and created again while the tap ran (its topic id changed): reading "
                        "the new topic from its start", self.name, topic)
        self._id_seen_at.update((t, asked_at) for t in asked if t in ids)
        return changed

    def _normalize(self, item: tuple[Normalizer, Any, int, list[dict[str, Any]]]) -> tuple[Any, ...]:
        """The batch's record rows and ingest errors, and the positions it reaches."""
        normalizer, batch, tapped, picked = item
        t0 = time.perf_counter()
        try:
            table, errors = normalizer.convert(batch, tapped_at_us=tapped)
        except (Exception, fastpath.PanicException):  # the fast path choked: the reference never does
            log.exception("%s: fast normalize failed, using record_row for this batch", self.name)
            table, errors = normalizer.reference(batch, tapped_at_us=tapped)
        if picked and self.wire is not None:
            t1 = time.perf_counter()
            table, errors = self.wire.apply(table, errors, picked, tapped)
            self._add_time("wire_decode_s", time.perf_counter() - t1)
        positions = batch.positions()
        self._add_time("normalize_s", time.perf_counter() - t0)
        self._set(slow_path_records=normalizer.rows.slow_rows)
        return table, errors, positions, tapped

    def _write(self, item: tuple[Any, ...]) -> None:
        """Write the batch and the positions it reaches in one transaction, then tell Kafka."""
        from confluent_kafka import TopicPartition

        table, errors, positions, tapped = item
        t0 = time.perf_counter()
        generations = self._generations.rows(table)  # the first records of a topic created again
        configs = self._topic_settings.rows(self.store.cursor)

        def commit() -> None:
            with self.store.transaction() as tx:
                tx.append("records", table)
                if generations is not None:
                    tx.append("topic_generations", generations)
                if configs is not None:
                    tx.append("topic_configs", configs)
                if errors:
                    tx.append("ingest_errors", to_table(errors, INGEST_ERROR_SCHEMA))
                tx.set_positions((self.cluster, t, p, o, self._topic_ids.get(t)) for t, p, o in positions)

        try:
            # on a lake, a batch whose commit meets another writer's (retention's delete) is committed
            # again here, with its positions, rather than ending the session
            faults.retry_conflicts(commit, what=self.name)
            if generations is not None:
                self._generations.written(generations)
            if configs is not None:
                self._topic_settings.written(configs)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._flushed.notify_all()
        # the consumer thread commits to Kafka (the client blocks a commit from another thread)
        self._to_commit.append([TopicPartition(t, p, o) for t, p, o in positions])
        self._add_time("write_s", time.perf_counter() - t0)
        with self._lock:
            s = self._status
            s["records"] += table.num_rows
            s["batches"] += 1
            s["errors"] += len(errors)
            s["last_flush_at"] = _now_us()  # the commit, not the read: a slow write is no fresher
            if s["state"] == "retrying":
                s["state"] = "running"
        if self._fault is not None:
            log.warning("%s: writing to %s works again", self.name, faults.name(self.store.path))
            self._fault = None


class _Buffer:
    """The chunks consumed since the last hand-over, all captured by one normalizer."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.normalizer: Normalizer | None = None
        self.chunks: list[Any] = []
        self.picked: list[dict[str, Any]] = []  # the batch's wire-format records, when a registry decodes them
        self.rows = self.nbytes = 0
        self.started = 0.0

    def add(self, normalizer: Normalizer, chunk: Any, started: float,
            picked: list[dict[str, Any]] | None = None) -> None:
        if not self.chunks:
            self.normalizer, self.started = normalizer, started
        self.chunks.append(chunk)
        if picked:
            self.picked.extend(picked)
        self.rows += chunk.num_rows
        self.nbytes += chunk.nbytes

    def due(self, settings: KafkaSettings) -> bool:
        """Enough records or bytes, or the batch's time is up."""
        return bool(self.chunks) and (self.rows >= settings.batch_messages or self.nbytes >= settings.batch_bytes
                                      or time.monotonic() - self.started >= settings.batch_seconds)

    def take(self) -> tuple[Normalizer, Any, list[dict[str, Any]]]:
        assert self.normalizer is not None
        normalizer, batch, picked = self.normalizer, self.normalizer.concat(self.chunks), self.picked
        self._clear()
        return normalizer, batch, picked


_AUTO_OFFSET_RESET = -140  # KafkaError._AUTO_OFFSET_RESET: a position out of range, with auto.offset.reset=error


def _transport_codes() -> set[int]:
    try:
        from confluent_kafka import KafkaError
    except ImportError:  # pragma: no cover
        return set()
    return {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE,  # noqa: SLF001
            KafkaError._TIMED_OUT, KafkaError.NETWORK_EXCEPTION}  # noqa: SLF001


_TRANSPORT = _transport_codes()


def _last_seen(points: dict[tuple[str, int], dict[str | None, tuple[int, Any]]], topic: str) -> datetime | None:
    """When the tap last stored a position of ``topic`` under an id: the old topic was alive then,
    so the new one's records cannot begin before."""
    return max((at for (t, _), by_id in points.items() if t == topic
                for i, (_, at) in by_id.items() if i is not None and at is not None), default=None)
