"""Dead-letter redrive: replay dead letters to their origin topic, once each (docs/architecture.md#dead-letter-redrive).

Each replay republishes the dead letter's key, value and headers, without the headers the
dead-letter families add, plus two of its own: PROVENANCE names the dead-letter record and
REPLAY_COUNT how many times the event has been replayed. The producer is idempotent.

Exactly one copy, even across a kill -9: for each batch the ledger first records an intent
(with the target's end offsets), then the batch is produced and flushed, then marked done. A
run finding an intent without done reads the target from those offsets for the provenance
header: found, it is marked done; absent, it is sent again.

Loop guard: a dead letter whose event already had ``max_replays`` replays (its replay-count
header, or the ledger's count for the replay it came from) is quarantined, never replayed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.errors import ConfigError, SeamwatchError
from collectors.kafka.config import KafkaSettings
from collectors.kafka.headers import UNREADABLE, message_headers, read_headers
from collectors.kafka.redrive_ledger import Entry, Ledger, RecordId
from collectors.normalize import deadletter
from collectors.normalize.binary import integer
from collectors.normalize.deadletter import PROVENANCE, REPLAY_COUNT
from collectors.store import Store

log = logging.getLogger(__name__)

DEFAULT_MAX_REPLAYS = 3
_BATCH = 500  # replays per intent/flush/done round without --rate
_WAIT = 30.0  # seconds a read or a flush may take before the run stops with an error
# One run at a time in a process: two Redrive buttons clicked at once would both find a dead
# letter unrecorded and both send it (a second process cannot open the store at all).
_ONE_RUN = threading.Lock()


class RedriveError(SeamwatchError):
    """The run cannot go on (broker unreachable, topic missing); what was done is recorded."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to replay: records of the dead-letter topic by id, or all since a time."""

    dlt: str
    records: Sequence[RecordId] = ()
    since: datetime | None = None  # naive UTC
    to: str | None = None
    dry_run: bool = False
    rate: float | None = None  # replays per second
    max_replays: int = DEFAULT_MAX_REPLAYS

    def __post_init__(self) -> None:
        if not self.dlt:
            raise ConfigError("--dlt TOPIC is required")
        if bool(self.records) == (self.since is not None):
            raise ConfigError("give --record (repeatable) or --since, one of them")
        other = sorted({r.topic for r in self.records} - {self.dlt})
        if other:
            raise ConfigError(f"--record {other[0]}/… is not on the dead-letter topic {self.dlt}")
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("--rate must be a positive number of records per second")
        if self.max_replays < 0:
            raise ConfigError("--max-replays must be 0 or more")


@dataclass(frozen=True)
class Outcome:
    """What the run did with one dead letter."""

    record: RecordId
    action: str  # replayed | would replay | already replayed | found replayed | quarantined | failed
    target: str | None = None
    replay_count: int | None = None
    target_partition: int | None = None
    target_offset: int | None = None
    reason: str | None = None

    def line(self) -> str:
        where = self.target or "?"
        if self.target_partition is not None and self.target_offset is not None:
            where = f"{self.target}/{self.target_partition}/{self.target_offset}"
        if self.action == "quarantined":
            return f"quarantined {self.record}: {self.reason}"
        if self.action == "failed":
            return f"failed {self.record}: {self.reason}"
        count = f" (replay {self.replay_count})" if self.replay_count else ""
        if self.action == "in doubt":
            count += ": a run stopped before the broker confirmed it; a run that is not dry looks for it first"
        return f"{self.action} {self.record} → {where}{count}"


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(o.action == action for o in self.outcomes)

    def summary(self) -> str:
        order = ("replayed", "would replay", "found replayed", "already replayed", "in doubt", "quarantined",
                 "failed")
        parts = [f"{n} {a}" for a in order if (n := self.count(a))]
        return ", ".join(parts) or "nothing to replay"


@dataclass(frozen=True)
class _Letter:
    """A dead letter read from the broker, with what its replay will carry."""

    record: RecordId
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    target: str | None
    target_partition: int | None  # the origin partition, when the replay goes back to the origin topic
    grp: str | None
    carried: int  # replays the event already had


def replay_headers(headers: Iterable[tuple[str, bytes | None]], record: RecordId,
                   count: int) -> list[tuple[str, bytes | None]]:
    """The producer's own headers, without dead-letter and earlier redrive headers, plus provenance and count."""
    kept = [(n, v) for n, v in headers
            if not deadletter.is_dead_letter_header(n) and n not in (PROVENANCE, REPLAY_COUNT)]
    return [*kept, (PROVENANCE, str(record).encode()), (REPLAY_COUNT, str(count).encode())]


class Redrive:
    """One redrive run against one cluster and store."""

    def __init__(self, store: Store | None, settings: KafkaSettings, request: Request, *,
                 on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self.store, self.settings, self.request = store, settings, request
        self.ledger = Ledger(store, settings.cluster_name)
        self.report = Report()
        self.run_id = uuid.uuid4().hex[:12]
        self._on_outcome = on_outcome or (lambda _o: None)
        self._consumer: Any = None

    # -- the run -----------------------------------------------------------------
    def run(self) -> Report:
        if not _ONE_RUN.acquire(timeout=1.0):
            raise RedriveError("another redrive is running in this process; try again when it has finished")
        try:
            return self._run()
        finally:
            _ONE_RUN.release()

    def _run(self) -> Report:
        from confluent_kafka import Consumer

        self._consumer = Consumer(self.settings.client_conf(**{
            "group.id": "seamwatch-redrive", "enable.auto.commit": False, "enable.auto.offset.store": False,
            "client.id": "seamwatch-redrive", "enable.partition.eof": False, "auto.offset.reset": "earliest"}))
        try:
            self._partitions(self.request.dlt)  # a missing topic fails before anything else
            if not self.request.dry_run:
                self._settle_in_doubt()
            letters = self._read_letters()
            todo = [x for x in (self._decide(letter) for letter in letters) if x is not None]
            if self.request.dry_run:
                for letter in todo:
                    self._emit(Outcome(letter.record, "would replay", letter.target, letter.carried + 1))
            else:
                self._replay(todo)
        finally:
            self._consumer.close()
        return self.report

    def _emit(self, outcome: Outcome) -> None:
        self.report.outcomes.append(outcome)
        self._on_outcome(outcome)

    # -- reading -----------------------------------------------------------------
    def _partitions(self, topic: str) -> list[int]:
        try:
            md = self._consumer.list_topics(topic, timeout=_WAIT).topics.get(topic)
        except Exception as exc:  # noqa: BLE001 (librdkafka's KafkaException: one sentence)
            raise RedriveError(f"cannot reach the Kafka cluster {self.settings.cluster_name}: {exc}") from None
        if md is None or md.error is not None or not md.partitions:
            raise RedriveError(f"topic {topic} does not exist on {self.settings.cluster_name}")
        return sorted(md.partitions)

    def _end(self, topic: str, partition: int) -> int:
        from confluent_kafka import TopicPartition

        try:
            return int(self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_WAIT)[1])
        except Exception as exc:  # noqa: BLE001
            raise RedriveError(f"cannot read the end offset of {topic}/{partition}: {exc}") from None

    def _scan(self, starts: dict[tuple[str, int], int], keep: Callable[[Any], bool]) -> list[Any]:
        """Messages from each (topic, partition) start up to its end offset now, those keep() wants."""
        from confluent_kafka import TopicPartition

        ends = {tp: self._end(*tp) for tp in starts}
        left = {tp: end for tp, end in ends.items() if end > starts[tp]}
        if not left:
            return []
        self._consumer.assign([TopicPartition(t, p, starts[(t, p)]) for t, p in left])
        found: list[Any] = []
        deadline = time.monotonic() + _WAIT
        try:
            while left:
                batch = self._consumer.consume(500, 1.0)
                if not batch:
                    # the last offsets may hold no message (transaction markers, compaction): the
                    # consumer's position past the end says the partition is read
                    for tp in self._consumer.position([TopicPartition(t, p) for t, p in left]):
                        if tp.offset >= left[(tp.topic, tp.partition)]:
                            del left[(tp.topic, tp.partition)]
                    if left and time.monotonic() > deadline:
                        raise RedriveError("no progress reading " + ", ".join(f"{t}/{p}" for t, p in sorted(left))
                                           + f" for {_WAIT:.0f} s")
                for msg in batch:
                    if msg.error():
                        continue  # partition EOF and transient errors; the deadline bounds the wait
                    deadline = time.monotonic() + _WAIT
                    tp = (msg.topic(), msg.partition())
                    if tp not in left:
                        continue
                    if keep(msg):
                        found.append(msg)
                    if msg.offset() + 1 >= left[tp]:
                        del left[tp]
        finally:
            self._consumer.unassign()
        return found

    def _read_letters(self) -> list[_Letter]:
        req = self.request
        if req.records:
            wanted = set(req.records)
            starts: dict[tuple[str, int], int] = {}
            for r in req.records:
                starts[(r.topic, r.partition)] = min(r.offset, starts.get((r.topic, r.partition), r.offset))
            msgs = self._scan(starts, lambda m: RecordId(m.topic(), m.partition(), m.offset()) in wanted)
            got = {RecordId(m.topic(), m.partition(), m.offset()): m for m in msgs}
            for r in sorted(wanted - set(got), key=str):
                self._emit(Outcome(r, "failed", reason="no such record on the topic (deleted, or never written)"))
            msgs = [got[r] for r in dict.fromkeys(req.records) if r in got]  # a record named twice goes once
        else:
            from confluent_kafka import TopicPartition

            assert req.since is not None
            ms = int(req.since.timestamp() * 1000) if req.since.tzinfo else int(
                (req.since - datetime(1970, 1, 1)).total_seconds() * 1000)
            asked = [TopicPartition(req.dlt, p, ms) for p in self._partitions(req.dlt)]
            try:
                found = self._consumer.offsets_for_times(asked, timeout=_WAIT)
            except Exception as exc:  # noqa: BLE001
                raise RedriveError(f"cannot look up offsets of {req.dlt} by time: {exc}") from None
            starts = {(req.dlt, tp.partition): tp.offset for tp in found if tp.offset >= 0}
            msgs = self._scan(starts, lambda m: True)
        return [self._letter(m) for m in msgs]

    def _letter(self, msg: Any) -> _Letter:
        record = RecordId(msg.topic(), msg.partition(), msg.offset())
        try:
            headers = [(n, v) for n, v in (read_headers(msg) or [])]
        except UNREADABLE:  # confluent-kafka cannot read a header name that is not UTF-8
            raise RedriveError(f"{record.topic}/{record.partition}/{record.offset}: a header name is not UTF-8, "
                               "so its headers cannot be read and it would be replayed without them") from None
        last = {n: v for n, v in headers}
        dl = deadletter.classify(record.topic, last)
        origin = dl["dlt_origin_topic"] or _origin_from_name(record.topic)
        target = self.request.to or origin
        carried = integer(last.get(REPLAY_COUNT), binary_first=False)
        if carried is None and dl["dlt_origin_topic"] and dl["dlt_origin_offset"] is not None:
            # a consumer that drops headers when it dead-letters: the ledger knows the replay it read
            carried = self.ledger.count_of_replay_at(dl["dlt_origin_topic"], dl["dlt_origin_partition"] or 0,
                                                     dl["dlt_origin_offset"])
        partition = dl["dlt_origin_partition"] if target == dl["dlt_origin_topic"] else None
        return _Letter(record, msg.key(), msg.value(), headers, target, partition, dl["dlt_origin_group"],
                       max(0, carried or 0))  # a nonsense count (negative) counts as none

    # -- deciding ----------------------------------------------------------------
    def _decide(self, letter: _Letter) -> _Letter | None:
        entry = self.ledger.get(letter.record)
        if entry is not None and entry.state in ("done", "intent"):
            action = "already replayed" if entry.state == "done" else "in doubt"
            self._emit(_from_entry(entry, action))
            return None
        if letter.target is None:
            self._emit(Outcome(letter.record, "failed",
                               reason="its headers name no origin topic and its name tells none; give --to"))
            return None
        if letter.carried >= self.request.max_replays:
            reason = (f"dead-lettered again after {letter.carried} replays (--max-replays "
                      f"{self.request.max_replays}); left alone")
            if not self.request.dry_run:
                self.ledger.quarantine(letter.record, letter.target, letter.grp, letter.carried, reason, self.run_id)
            self._emit(Outcome(letter.record, "quarantined", letter.target, letter.carried, reason=reason))
            return None
        return letter

    # -- in-doubt intents ----------------------------------------------------------
    def _settle_in_doubt(self) -> None:
        """Intents a stopped run left: done if the target holds the replay, forgotten (sent again) if not."""
        doubts = self.ledger.in_doubt(self.request.dlt)
        if not doubts:
            return
        by_id = {str(e.record): e for e in doubts}
        starts: dict[tuple[str, int], int] = {}
        for e in doubts:
            if e.target_topic is None:
                continue
            for p, o in e.target_from.items():
                key = (e.target_topic, p)
                starts[key] = min(o, starts.get(key, o))
        landed: dict[str, tuple[int, int]] = {}

        def provenance(msg: Any) -> bool:
            for name, value in message_headers(msg) or []:  # any record of the target topic
                if name == PROVENANCE and value is not None:
                    named = value.decode("utf-8", "replace")
                    entry = by_id.get(named)
                    if entry is not None and entry.target_topic == msg.topic() and named not in landed:
                        landed[named] = (msg.partition(), msg.offset())
                        return True
            return False

        self._scan(starts, provenance)
        self.ledger.mark_done([(by_id[k].record, p, o) for k, (p, o) in landed.items()])
        self.ledger.forget([e.record for k, e in by_id.items() if k not in landed])
        for k, (p, o) in landed.items():
            e = by_id[k]
            self._emit(Outcome(e.record, "found replayed", e.target_topic, e.replay_count, p, o))

    # -- replaying -----------------------------------------------------------------
    def _replay(self, letters: list[_Letter]) -> None:
        if not letters:
            return
        from confluent_kafka import KafkaException, Producer

        # Idempotent, and Java's key partitioner, so a keyed replay joins its key's partition
        # wherever the origin partition is not known.
        producer = Producer(self.settings.client_conf(**{
            "enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
            "client.id": "seamwatch-redrive", "linger.ms": 5}))
        rate = self.request.rate
        size = max(1, min(_BATCH, int(rate))) if rate else _BATCH
        pace = 1.0 / rate if rate else 0.0
        started, sent = time.monotonic(), 0
        partitions: dict[str, list[int]] = {}
        for i in range(0, len(letters), size):
            batch = letters[i:i + size]
            # the targets' end offsets before this batch is sent: where a later run looks for it
            ends: dict[str, dict[int, int]] = {}
            for letter in batch:
                assert letter.target is not None
                if letter.target not in partitions:
                    partitions[letter.target] = self._partitions(letter.target)
                if letter.target not in ends:
                    ends[letter.target] = {p: self._end(letter.target, p) for p in partitions[letter.target]}
            intents = []
            for letter in batch:
                assert letter.target is not None
                at = ends[letter.target]
                if letter.target_partition is not None and letter.target_partition in at:
                    at = {letter.target_partition: at[letter.target_partition]}
                intents.append((letter.record, letter.target, letter.grp, letter.carried + 1, at))
            self.ledger.record_intents(intents, self.run_id)
            delivered: dict[int, tuple[int, int] | str] = {}
            for n, letter in enumerate(batch):
                if pace:
                    wait = started + sent * pace - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                kw: dict[str, Any] = {"key": letter.key, "value": letter.value,
                                      "headers": replay_headers(letter.headers, letter.record, letter.carried + 1),
                                      "on_delivery": _delivery(delivered, n)}
                if letter.target_partition is not None and letter.target_partition in ends[letter.target]:
                    kw["partition"] = letter.target_partition
                while True:
                    try:
                        producer.produce(letter.target, **kw)
                        break
                    except BufferError:
                        producer.poll(0.1)
                    except KafkaException as exc:
                        raise RedriveError(f"cannot produce to {letter.target}: {exc}") from None
                producer.poll(0)
                sent += 1
            left = producer.flush(_WAIT)
            landed = [(batch[n].record, *where) for n, where in sorted(delivered.items()) if isinstance(where, tuple)]
            self.ledger.mark_done(landed)
            for n, letter in enumerate(batch):
                where = delivered.get(n)
                if isinstance(where, tuple):
                    self._emit(Outcome(letter.record, "replayed", letter.target, letter.carried + 1, *where))
                else:
                    self._emit(Outcome(letter.record, "failed", letter.target, letter.carried + 1, reason=(
                        where or "not confirmed by the broker in time") + "; the next run checks the target first"))
            if left or len(landed) < len(batch):
                raise RedriveError(f"{len(batch) - len(landed)} replays to {batch[0].target} were not confirmed; "
                                   "stopped (run again: the ledger knows what landed)")


def _delivery(out: dict[int, tuple[int, int] | str], n: int) -> Callable[[Any, Any], None]:
    def done(err: Any, msg: Any) -> None:
        out[n] = str(err) if err is not None else (msg.partition(), msg.offset())
    return done


def _from_entry(entry: Entry, action: str) -> Outcome:
    return Outcome(entry.record, action, entry.target_topic, entry.replay_count, entry.target_partition,
                   entry.target_offset)


_SUFFIXES = (".DLT", "-dlt", ".DLQ", "-dlq")


def _origin_from_name(topic: str) -> str | None:
    """orders.DLT → orders, as the dead-letters page reads a topic-pattern dead letter."""
    for suffix in _SUFFIXES:
        if topic.endswith(suffix) and len(topic) > len(suffix):
            return topic[: -len(suffix)]
    return None
