"""Where the tap resumes, against where the partition's log now begins and ends.

A session starts each partition where the store says the tap stopped. Meanwhile the log may
have moved on: the topic's retention (or DeleteRecords) deleted offsets the tap never read, or
the topic was deleted and created again, so its offsets restarted below the stored position.
Such a position is moved to the partition's start by the tap (KafkaTap._reset), and librdkafka
would say so only in a log line of its own: records lost that way would be missing from every
finding without a word. The tap's consumer runs with ``auto.offset.reset=error``, so librdkafka
returns an error naming a position the broker refused, as a session starts or while it runs, in
assign and group mode alike; the tap then asks the cluster for the partition's low and high
watermarks (one ListOffsets request per broker, on a thread of its own: reading never waits on
it) and tells what it finds.

A topic deleted and created again is also told by its topic id (Kafka gives each topic a new
UUID when it is created; :func:`topic_ids`), stored with every position: a position stored for
another id is the old topic's, and the new one is read from its start (:func:`choose`). That
holds when the new topic already has more records than the stored position, where the
watermarks alone cannot tell. On a lake it also keeps a position of the old topic, still in the
append-only table, from being taken for the new one's.

What this does not see: a topic created again whose id the broker does not give (brokers before
Kafka 2.8) and that already holds more records than the stored position.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (topic, partition)
Points = dict[Key, dict["str | None", tuple[int, Any]]]  # Store.resume_points: per topic id, (next offset, written at)
_NO_ID = "AAAAAAAAAAAAAAAAAAAAAA"  # Kafka's zero UUID: a broker that gives topics no id
ID_TIMEOUT = 10.0  # seconds for the topics' ids (one DescribeTopics request)


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
    from confluent_kafka.admin import OffsetSpec

    from collectors.kafka.lag_snapshot import watermarks

    asked = {tp: p for tp, p in positions.items() if p >= 0}  # (logical offsets: nothing stored)
    admin = admin_client(conf) if asked else None
    if admin is None:
        return []
    low = watermarks(admin, asked, OffsetSpec.earliest(), TopicPartition)
    high = watermarks(admin, asked, OffsetSpec.latest(), TopicPartition)
    out = []
    for (t, p), pos in sorted(asked.items()):
        lo, hi = low.get((t, p)), high.get((t, p))
        if lo is not None and hi is not None and (pos < lo or pos > hi):
            out.append(Gap(t, p, pos, lo, hi))
    return out


@dataclass(frozen=True)
class Recreated:
    """A partition whose stored position belongs to an older topic of the same name."""

    topic: str
    partition: int
    position: int  # where the tap stopped in the old topic

    def sentence(self) -> str:
        return (f"{self.topic}/{self.partition}: the topic was deleted and created again (its topic id changed) "
                f"since the tap stopped at offset {self.position:,} of the old one: reading the new topic from its "
                f"start, so an offset may name a record of each")


def recreated_lines(recreated: list[Recreated]) -> list[str]:
    """One line per topic created again, however many partitions it has."""
    by_topic: dict[str, list[Recreated]] = {}
    for r in recreated:
        by_topic.setdefault(r.topic, []).append(r)
    lines = []
    for topic, parts in sorted(by_topic.items()):
        if len(parts) == 1:
            lines.append(parts[0].sentence())
            continue
        stops = ", ".join(f"{r.partition}: {r.position:,}" for r in sorted(parts, key=lambda r: r.partition)[:8])
        more = f" and {len(parts) - 8} more" if len(parts) > 8 else ""
        lines.append(f"{topic}: the topic was deleted and created again (its topic id changed) since the tap stopped "
                     f"in {len(parts)} of its partitions (at offsets {stops}{more} of the old one): reading the new "
                     f"topic from its start, so an offset may name a record of each")
    return lines


def admin_client(conf: dict[str, Any]) -> Any:
    """An AdminClient of the tap's configuration, or None (said at debug level) when librdkafka refuses
    one: the ids are then not asked, and nothing else stops."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        return AdminClient(conf)
    except (KafkaException, ValueError, TypeError) as exc:
        log.debug("an admin client for the topics' ids: %s", exc)
        return None


def topic_ids(conf: dict[str, Any], topics: list[str], *, admin: Any = None) -> dict[str, str]:
    """Each topic's id as the broker gives it (Kafka's base64 UUID). Topics it does not describe
    (denied, gone, an old broker with no ids) are left out; so is everything when it cannot be asked.
    ``admin``: an AdminClient of ``conf`` to ask with (one is made for the call otherwise)."""
    from confluent_kafka import KafkaException, TopicCollection

    if not topics:
        return {}
    admin = admin or admin_client(conf)  # kept until the answers are in: its end would fail them
    if admin is None:
        return {}
    try:
        futures = admin.describe_topics(TopicCollection(sorted(set(topics))), request_timeout=ID_TIMEOUT)
    except (KafkaException, ValueError, TypeError) as exc:
        log.debug("describing %d topics for their ids: %s", len(topics), exc)
        return {}
    out = {}
    for topic, fut in futures.items():
        try:
            given = str(fut.result(timeout=ID_TIMEOUT + 5).topic_id)
        except Exception as exc:  # noqa: BLE001 (a topic deleted meanwhile, or not described to us)
            log.debug("the id of topic %s: %s", topic, exc)
            continue
        if given and given != _NO_ID:
            out[topic] = given
    return out


def choose(points: Points, ids: dict[str, str]) -> tuple[dict[Key, int], list[Recreated]]:
    """Where to resume each stored partition, given the topics' ids now; and the partitions whose
    stored positions are all another topic id's (the topic was created again: not resumed).

    - the id now is stored: its position;
    - only positions without an id (written before ids were kept, or by an old broker): the
      furthest of them, as before, and the watermarks tell a topic created again;
    - the id now is not known: the id written last;
    - stored ids, none the id now: the topic was created again.
    """
    positions: dict[Key, int] = {}
    recreated: list[Recreated] = []
    for key, by_id in sorted(points.items()):
        now = ids.get(key[0])
        known = {i: v for i, v in by_id.items() if i is not None}
        if now is not None and now in known:
            positions[key] = known[now][0]
        elif not known:
            positions[key] = by_id[None][0]
        elif now is None:
            positions[key] = _written_last(by_id)
        else:
            recreated.append(Recreated(key[0], key[1], _written_last(known)))
    return positions, recreated


def _written_last(by_id: dict[Any, tuple[int, Any]]) -> int:
    """The next offset of the topic id whose position was written last."""
    return max(by_id.values(), key=lambda v: (v[1] is not None, v[1]))[0]
