"""Where the tap resumes, against where the partition's log now begins and ends.

A session starts each partition where the store says the tap stopped. Meanwhile the log may
have moved on: the topic's retention (or DeleteRecords) deleted offsets the tap never read, or
the topic was deleted and created again, so its offsets restarted below the stored position.
Such a position is moved to the partition's start (by librdkafka in group mode, the tap's
``auto.offset.reset=earliest`` there; by the tap in assign mode, KafkaTap._reset) and librdkafka
says so only in a log line of its own: records lost that way would be missing from every finding
without a word. So at the start of a session the tap asks
the cluster for the low and high watermarks of the partitions it resumes (one ListOffsets request
per broker, on a thread of its own: reading never waits on it) and tells what it finds. In assign
mode the tap asks only for a position the broker refused (``auto.offset.reset=error``:
librdkafka returns an error instead of moving it), as a session starts or while it runs.

What this does not see: a loss while a session runs on a lake (group mode), where librdkafka resets the
position by itself; and a
topic created again that already holds more records than the stored position (only its topic id
would tell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Key = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True)
class Gap:
    topic: str
    partition: int
    position: int  # where the tap resumes: the next offset it would read
    low: int  # the partition's first offset now
    high: int  # one past its last

    @property
    def deleted(self) -> int:
        """Offsets deleted before the tap read them (0 when the position is past the end)."""
        return max(0, self.low - self.position)

    def sentence(self) -> str:
        where = f"{self.topic}/{self.partition}"
        if self.deleted:
            return (f"{where}: offsets {self.position:,}–{self.low - 1:,} ({self.deleted:,} records, fewer if some "
                    f"were transaction markers) were deleted from the topic before the tap read them (retention, or "
                    f"deleted records): they are not in the store; reading on from offset {self.low:,}")
        return (f"{where}: the tap stopped at offset {self.position:,}, past the partition's end {self.high:,}: the "
                f"topic was deleted and created again (or truncated); reading it from offset {self.low:,}, so an "
                f"offset may name a record of each")


def find(conf: dict[str, Any], positions: dict[Key, int]) -> list[Gap]:
    """The partitions whose stored position lies outside their log now: before its start, or past
    its end. Partitions the cluster does not answer for are left out."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    from collectors.kafka.lag import watermarks

    asked = {tp: p for tp, p in positions.items() if p >= 0}  # (logical offsets: nothing stored)
    if not asked:
        return []
    admin = AdminClient(conf)
    low = watermarks(admin, asked, OffsetSpec.earliest(), TopicPartition)
    high = watermarks(admin, asked, OffsetSpec.latest(), TopicPartition)
    out = []
    for (t, p), pos in sorted(asked.items()):
        lo, hi = low.get((t, p)), high.get((t, p))
        if lo is not None and hi is not None and (pos < lo or pos > hi):
            out.append(Gap(t, p, pos, lo, hi))
    return out
