"""The redrive ledger: what was replayed, in the store's `redrives` table (migration 012).

A replay is written as an intent before it is produced and marked done after the producer's
flush confirmed it (docs/architecture.md#dead-letter-redrive). Every write is its own short
transaction, so a kill -9 loses at most the step under way, never a recorded one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collectors.errors import StoreError
from collectors.store import Store


@dataclass(frozen=True)
class RecordId:
    """A record as the dashboard names it: topic/partition/offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    @classmethod
    def parse(cls, text: str) -> RecordId:
        """'orders.DLT/0/42' → RecordId; anything else raises ValueError naming the form."""
        topic, _, rest = text.strip().rpartition("/")
        topic, _, part = topic.rpartition("/")
        try:
            partition, offset = int(part), int(rest)
        except ValueError:
            raise ValueError(f"a record is TOPIC/PARTITION/OFFSET (e.g. orders.DLT/0/42), not {text!r}") from None
        if not topic or partition < 0 or offset < 0:
            raise ValueError(f"a record is TOPIC/PARTITION/OFFSET (e.g. orders.DLT/0/42), not {text!r}")
        return cls(topic, partition, offset)


@dataclass(frozen=True)
class Entry:
    """One ledger row."""

    record: RecordId
    state: str  # intent | done | quarantined
    target_topic: str | None
    grp: str | None
    replay_count: int | None
    target_from: dict[int, int]
    target_partition: int | None
    target_offset: int | None


_SELECT = ("SELECT dlt_topic, dlt_partition, dlt_offset, state, target_topic, grp, replay_count, target_from, "
           "target_partition, target_offset FROM redrives WHERE cluster = ? AND ")


def _now_us() -> int:
    return time.time_ns() // 1000


class Ledger:
    """The `redrives` rows of one cluster. Without a store (a dry run before any store exists,
    or a read-only store older than migration 012) it is empty and refuses writes."""

    def __init__(self, store: Store | None, cluster: str) -> None:
        self.store, self.cluster = store, cluster
        self._empty = store is None or not store.cursor().execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'redrives'").fetchone()[0]

    def _reader(self) -> Any:
        assert self.store is not None
        return self.store.cursor()

    def _writer(self) -> Any:
        if self.store is None or self._empty:
            raise StoreError("a redrive needs a store to record its replays in (give --db)")
        return self.store.transaction()

    def _entries(self, where: str, params: list[Any]) -> list[Entry]:
        if self._empty:
            return []
        sql = _SELECT + where  # noqa: S608 (constant conditions; values are bound)
        rows = self._reader().execute(sql, [self.cluster, *params]).fetchall()
        return [Entry(RecordId(t, int(p), int(o)), state, target, grp, count,
                      {int(k): int(v) for k, v in json.loads(frm).items()} if frm else {}, tp, to)
                for t, p, o, state, target, grp, count, frm, tp, to in rows]

    def get(self, record: RecordId) -> Entry | None:
        found = self._entries('dlt_topic = ? AND dlt_partition = ? AND dlt_offset = ?',
                              [record.topic, record.partition, record.offset])
        return found[0] if found else None

    def in_doubt(self, dlt_topic: str) -> list[Entry]:
        """Intents without done: a run stopped between recording and confirming them."""
        return self._entries("dlt_topic = ? AND state = 'intent'", [dlt_topic])

    def count_of_replay_at(self, topic: str, partition: int, offset: int) -> int | None:
        """The replay count of the replay that landed at (topic, partition, offset), if one did."""
        if self._empty:
            return None
        row = self._reader().execute(
            "SELECT max(replay_count) FROM redrives WHERE cluster = ? AND state = 'done' AND target_topic = ? "
            'AND target_partition = ? AND target_offset = ?', [self.cluster, topic, partition, offset]).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _put(self, tx: Any, record: RecordId, values: dict[str, Any]) -> None:
        cur = tx.cursor
        cur.execute("DELETE FROM redrives WHERE cluster = ? AND dlt_topic = ? AND dlt_partition = ? AND dlt_offset = ?",
                    [self.cluster, record.topic, record.partition, record.offset])
        cols = ["cluster", "dlt_topic", "dlt_partition", "dlt_offset", *values]
        cur.execute(f"INSERT INTO redrives ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608 (constant column names)
                    [self.cluster, record.topic, record.partition, record.offset, *values.values()])

    def record_intents(self, intents: list[tuple[RecordId, str, str | None, int, dict[int, int]]], run_id: str) -> None:
        """(record, target topic, group, replay count, target end offsets) for each replay about to be sent."""
        with self._writer() as tx:
            for record, target, grp, count, target_from in intents:
                self._put(tx, record, {
                    "state": "intent", "target_topic": target, "grp": grp, "replay_count": count,
                    "target_from": json.dumps({str(p): o for p, o in sorted(target_from.items())}),
                    "run_id": run_id, "intent_at": _ts(_now_us())})

    def mark_done(self, landed: list[tuple[RecordId, int, int]]) -> None:
        """(record, target partition, target offset) for replays the broker confirmed."""
        if not landed:
            return
        now = _ts(_now_us())
        with self._writer() as tx:
            tx.cursor.executemany(
                "UPDATE redrives SET state = 'done', target_partition = ?, target_offset = ?, done_at = ? "
                "WHERE cluster = ? AND dlt_topic = ? AND dlt_partition = ? AND dlt_offset = ?",
                [(p, o, now, self.cluster, r.topic, r.partition, r.offset) for r, p, o in landed])

    def forget(self, records: list[RecordId]) -> None:
        """Drop intents found not to have reached the target: they are free to be sent again."""
        if not records:
            return
        with self._writer() as tx:
            tx.cursor.executemany(
                "DELETE FROM redrives WHERE cluster = ? AND dlt_topic = ? AND dlt_partition = ? AND dlt_offset = ? "
                "AND state = 'intent'", [(self.cluster, r.topic, r.partition, r.offset) for r in records])

    def quarantine(self, record: RecordId, target: str | None, grp: str | None, count: int, reason: str,
                   run_id: str) -> None:
        with self._writer() as tx:
            self._put(tx, record, {"state": "quarantined", "target_topic": target, "grp": grp,
                                   "replay_count": count, "reason": reason, "run_id": run_id,
                                   "intent_at": _ts(_now_us())})


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC).replace(tzinfo=None)
