"""Where a partition's records end for a group's lag: transaction markers are not records.

A transactional producer (Kafka Streams with exactly-once, any producer with a
``transactional.id``) ends each transaction with a commit or abort marker, which takes an offset
of its own. After the last transaction the high watermark sits one past that marker, and a
consumer that read every record and committed "the last record's offset + 1", as consumers do,
stays one offset behind the high watermark for good: the lag reads 1 and Burrow's rules call the
group stopped (kafka-consumer-groups.sh and Burrow show the same lag of 1). Aborted records are
likewise never delivered to a ``read_committed`` consumer.

So where a group's committed offset is a little behind the high watermark, the lag poller asks the
partition itself: a consumer without a group reads from the committed offset, as a
``read_committed`` consumer would. When it reaches the end without a record below the high
watermark, nothing the group could still read lies there, and the group's lag is measured to its
committed offset. Answers are kept per (partition, committed offset, high watermark), so a quiet
partition is read once, not at every poll; a partition that cannot be read in time keeps the
high watermark (the lag as the broker states it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

# Committed offsets at most this far behind the high watermark are checked: a transaction leaves
# one marker per partition, so a caught-up group is a few offsets behind, not thousands.
PROBE_SPAN = 64
PROBE_SECONDS = 2.0  # time the partition reads of one poll may take together
_UNKNOWN = object()

Key = tuple[str, int]  # (topic, partition)


class ReadableEnd:
    """Answers "does any record lie in [committed, high watermark)?" by reading the partitions."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = {**conf, "group.id": "seamwatch-lag-readable-end", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "enable.partition.eof": True,
                     "isolation.level": "read_committed", "fetch.wait.max.ms": 100}
        self.conf.setdefault("client.id", "seamwatch-lag-readable-end")
        self._consumer: Any = None
        # (partition, high watermark) → what reads from an offset found: (offset, the first record's
        # offset from there, or None when the partition ended first)
        self._answers: dict[tuple[Key, int], list[tuple[int, int | None]]] = {}

    def caught_up(self, behind: dict[Key, tuple[set[int], int]]) -> set[tuple[str, int, int]]:
        """Of partitions given as (the groups' committed offsets, high watermark), the (topic,
        partition, committed offset) with no record between the offset and the high watermark: a
        group committed there has read every record."""
        todo = {(tp, h): {c for c in cs if 0 < h - c <= PROBE_SPAN} for tp, (cs, h) in behind.items()}
        self._answers = {k: v for k, v in self._answers.items() if k in todo}  # partitions that moved on
        deadline = time.monotonic() + PROBE_SECONDS
        while time.monotonic() < deadline:
            # from the lowest offset not answered yet: a record found at f answers every offset up
            # to f (it lies past them), the end found answers every offset past it
            ask = {tp: (min(unknown), h) for (tp, h), cs in todo.items()
                   if (unknown := [c for c in cs if self._known(tp, h, c) is _UNKNOWN])}
            found = self._read(ask, deadline) if ask else {}
            if not found:
                break
            for tp, first in found.items():
                self._answers.setdefault((tp, ask[tp][1]), []).append((ask[tp][0], first))
        return {(*tp, c) for (tp, h), cs in todo.items() for c in cs if self._known(tp, h, c) is None}

    def _known(self, tp: Key, h: int, c: int) -> Any:
        """What the reads say of offset c: the first record's offset past it, None when no record
        lies past it, or _UNKNOWN."""
        for start, first in self._answers.get((tp, h), ()):
            if first is None and start <= c:
                return None
            if first is not None and start <= c <= first:
                return first
        return _UNKNOWN

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception as exc:  # noqa: BLE001 (closing a client whose broker is gone)
                log.debug("closing the readable-end consumer: %s", exc)
            self._consumer = None

    def _read(self, todo: dict[Key, tuple[int, int]], deadline: float) -> dict[Key, int | None]:
        """The first record's offset below the high watermark from each offset, or None when the
        partition ends first; a partition not answered by ``deadline`` is left out."""
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        if self._consumer is None:
            self._consumer = Consumer(self.conf)
        consumer = self._consumer
        consumer.assign([TopicPartition(t, p, c) for (t, p), (c, _) in todo.items()])
        found: dict[Key, int | None] = {}
        try:
            while len(found) < len(todo) and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=len(todo) * 4, timeout=0.1):
                    tp = (msg.topic(), msg.partition())
                    if tp not in todo or tp in found:
                        continue
                    err = msg.error()
                    if err is None and msg.offset() < todo[tp][0]:
                        continue  # fetched for an earlier read of this partition
                    if err is None:
                        # a record below the high watermark is one the group still has to read
                        found[tp] = msg.offset() if msg.offset() < todo[tp][1] else None
                    elif err.code() == KafkaError._PARTITION_EOF:
                        found[tp] = None
                    else:
                        log.debug("reading %s/%s for its readable end: %s", *tp, err)
        finally:
            consumer.unassign()
        return found
