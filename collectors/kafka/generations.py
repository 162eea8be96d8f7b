"""Topic generations: when a topic created again begins, written with its first stored records.

A topic deleted and created again under the same name starts its offsets over, so after it the
store holds two records at (topic, partition, 0), and consumer spans of both. Analyses keyed on
the offset (redeliveries, idempotency) would read them as one record processed twice. The tap
knows a re-creation from the topic's id (collectors/kafka/resume_gaps.py); this module turns it
into a `topic_generations` row (migration 018) that the analyses split processings by
(dashboard/analyses/processings.py).

The row's ``since`` is where the new topic's records begin: the earliest of their timestamps
and tap times in the first batch read after the re-creation was found (the tap hands over what
it read at the old positions first: those records lie further into the new topic, and would put
``since`` after its first records), but never before the old topic was last known alive (its
position stored, or its id given by the broker): a producer's clock, or a timestamp it set, can
lie.
It is written in the batch's own transaction, so a batch that fails to commit keeps it pending.
"""

from __future__ import annotations

import threading
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from collectors.model import TS

SCHEMA = pa.schema([("cluster", pa.string()), ("topic", pa.string()), ("topic_id", pa.string()),
                    ("since", TS), ("found_at", TS)])


class Generations:
    """The topics found created again whose new records are not stored yet (thread-safe)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, datetime | None, datetime]] = {}  # topic -> (new id, old seen, found)

    def found(self, topic: str, topic_id: str, old_seen: datetime | None, found_at: datetime) -> None:
        """``topic`` now has id ``topic_id``; the old topic was last known alive at ``old_seen``."""
        with self._lock:
            self._pending[topic] = (topic_id, old_seen, found_at)

    def pending(self) -> set[str]:
        with self._lock:
            return set(self._pending)

    def rows(self, records: pa.Table) -> pa.Table | None:
        """The generation rows a batch of records starts (None when it starts none)."""
        with self._lock:
            pending = dict(self._pending)
        if not pending or records.num_rows == 0:
            return None
        topics, tapped = records.column("topic"), records.column("tapped_at")
        out = []
        for topic, (topic_id, old_seen, found_at) in sorted(pending.items()):
            # (a batch is stamped when it is handed over: one read before the rewind is stamped before found_at)
            mine = records.filter(pc.and_(pc.equal(topics, topic), pc.greater(tapped, pa.scalar(found_at, TS))))
            if mine.num_rows == 0:
                continue
            first = [pc.min(mine.column(c)).as_py() for c in ("timestamp", "tapped_at")]
            since = min(t for t in first if t is not None)
            if old_seen is not None and since < old_seen:
                since = old_seen
            out.append({"cluster": self.cluster, "topic": topic, "topic_id": topic_id, "since": since,
                        "found_at": found_at})
        return pa.Table.from_pylist(out, schema=SCHEMA) if out else None

    def written(self, rows: pa.Table) -> None:
        """The rows are committed: their topics are no longer pending (unless found again since)."""
        with self._lock:
            for topic, topic_id in zip(rows.column("topic").to_pylist(), rows.column("topic_id").to_pylist(),
                                       strict=True):
                if self._pending.get(topic, ("",))[0] == topic_id:
                    del self._pending[topic]
