"""Where a partition's records end for a group's lag: transaction markers are not records.

A transactional producer (Kafka Streams with exactly-once, any producer with a
``transactional.id``) ends each transaction with a commit or abort marker, which takes an offset
of its own. After the last transaction the high watermark sits one past that marker, and a
consumer that read every record and committed "the last record's offset + 1", as consumers do,
stays one offset behind the high watermark for good: the lag reads 1 and Burrow's rules call the
group stopped (kafka-consumer-groups.sh and Burrow show the same lag of 1). Aborted records are
likewise never delivered to a ``read_committed`` consumer.

So where a group's committed offset is a little behind the high watermark of a quiet partition
(its end where the previous poll found it), the lag poller asks the partition itself: a consumer
without a group reads from the committed offset, as a ``read_committed`` consumer would. When it
reaches the end without a record below the high watermark, nothing the group could still read
lies there, and the group's lag is measured to its committed offset. One read per partition and
end answers every group on it, so a quiet partition is read once, not at every poll; a partition
that cannot be read in time keeps the high watermark (the lag as the broker states it).
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

Key = tuple[str, int]  # (topic, partition)
UNREADABLE = -1  # a read refused (no READ permission on the topic): asked again once the end moves


class ReadableEnd:
    """Answers "does any record lie in [committed, high watermark)?" by reading the partitions."""

    def __init__(self, conf: dict[str, Any]) -> None:
        # a read takes a few records: small fetches (a record larger than them still comes whole)
        self.conf = {**conf, "group.id": "seamwatch-lag-readable-end", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "enable.partition.eof": True,
                     "isolation.level": "read_committed", "fetch.wait.max.ms": 100,
                     "max.partition.fetch.bytes": 64 << 10, "fetch.max.bytes": 1 << 20,
                     "queued.max.messages.kbytes": 1 << 10}
        self.conf.setdefault("client.id", "seamwatch-lag-readable-end")
        # (partition, high watermark) → (the offset read from, the last record's offset before the
        # high watermark, None when no record lies there, or UNREADABLE)
        self._read_from: dict[tuple[Key, int], tuple[int, int | None]] = {}
        self._refused: set[Key] = set()
        self._high: dict[Key, int] = {}  # each partition's high watermark at the previous poll

    def caught_up(self, behind: dict[Key, tuple[set[int], int]]) -> set[tuple[str, int, int]]:
        """Of partitions given as (the groups' committed offsets, high watermark), the (topic,
        partition, committed offset) with no record between the offset and the high watermark: a
        group committed there has read every record."""
        # only a quiet partition (its end where the previous poll found it) is read: on a busy one a
        # group passes the markers as it reads on, and reading it at every poll would cost a fetch
        quiet = {tp for tp, (_, h) in behind.items() if self._high.get(tp) == h}
        self._high = {tp: h for tp, (_, h) in behind.items()}
        todo = {(tp, h): {c for c in cs if 0 < h - c <= PROBE_SPAN} for tp, (cs, h) in behind.items() if tp in quiet}
        todo = {k: cs for k, cs in todo.items() if cs}
        self._read_from = {k: v for k, v in self._read_from.items() if k in todo}  # partitions that moved on
        ask = {tp: (min(cs), h) for (tp, h), cs in todo.items()
               if (tp, h) not in self._read_from or self._read_from[(tp, h)][0] > min(cs)}
        if ask:
            for tp, last in self._read(ask).items():
                self._read_from[(tp, ask[tp][1])] = (ask[tp][0], last)
        caught = set()
        for (tp, h), cs in todo.items():
            if (tp, h) in self._read_from:
                start, last = self._read_from[(tp, h)]
                if last != UNREADABLE:
                    caught |= {(*tp, c) for c in cs if c >= start and (last is None or c > last)}
        return caught

    def _read(self, todo: dict[Key, tuple[int, int]]) -> dict[Key, int | None]:
        """Each partition read from an offset to its end: the last record's offset before the high
        watermark, None when there is none, or UNREADABLE when the broker refused the read; a
        partition not read to its end within PROBE_SECONDS is left out.

        The consumer lives for one read and is closed by the thread that used it: reads are rare
        (a partition is read once per end), and a librdkafka consumer left to the garbage collector
        is destroyed on whichever thread collects it, which can crash the process."""
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        consumer = Consumer(self.conf)
        consumer.assign([TopicPartition(t, p, c) for (t, p), (c, _) in todo.items()])
        last: dict[Key, int | None] = dict.fromkeys(todo)
        ended: set[Key] = set()
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while len(ended) < len(todo) and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=PROBE_SPAN * len(todo), timeout=0.1):
                    tp = (msg.topic(), msg.partition())
                    if tp not in todo or tp in ended:
                        continue
                    err = msg.error()
                    if err is None:
                        start, high = todo[tp]
                        if msg.offset() >= high:  # written since the poll: past where the lag ends
                            ended.add(tp)
                        elif msg.offset() >= start:  # (not one fetched for an earlier read)
                            last[tp] = msg.offset()
                    elif err.code() == KafkaError._PARTITION_EOF:
                        ended.add(tp)
                    else:  # the lag stays as the broker states it; the log says why once a partition
                        if tp not in self._refused:
                            self._refused.add(tp)
                            log.info("cannot read %s/%s to tell transaction markers from records (%s): its "
                                     "groups' lag counts every offset up to the high watermark", *tp, err.str())
                        last[tp] = UNREADABLE
                        ended.add(tp)
        finally:
            try:
                consumer.close()
            except Exception as exc:  # noqa: BLE001 (closing a client whose broker is gone)
                log.debug("closing the readable-end consumer: %s", exc)
        return {tp: last[tp] for tp in ended}
