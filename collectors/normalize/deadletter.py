"""Dead-letter recognition: topic patterns and the four header families of docs/architecture.md#dead-letters."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from collectors.normalize.binary import integer, text

DEFAULT_PATTERNS: tuple[str, ...] = ("*.DLT", "*-dlt", "*.DLQ", "*-dlq", "error.*.*")

# family -> (header prefix for origin fields, prefix for exception fields, ints are binary)
_SPRING_FAMILIES: tuple[tuple[str, str, str, bool], ...] = (
    ("spring-dlt", "kafka_dlt-original-", "kafka_dlt-exception-", True),
    ("spring-retry", "kafka_original-", "kafka_exception-", True),
    ("spring-cloud-stream", "x-original-", "x-exception-", True),
)
# Headers a Seamwatch redrive adds to a replayed dead letter (collectors.kafka.redrive): the
# analyses read them to tell a replay from a duplicate publication.
PROVENANCE = "seamwatch-redriven-from"  # value: the dead-letter record, TOPIC/PARTITION/OFFSET
REPLAY_COUNT = "seamwatch-replay-count"  # value: decimal, 1 on the first replay
_CONNECT = "__connect.errors."
# Spring @RetryableTopic copies a failed record to `<topic>-retry[-N]` before the DLT: a retry, not a dead letter.
RETRY_TOPIC = re.compile(r"-retry(-\d+)?$")

EMPTY: dict[str, Any] = {
    "is_dead_letter": False,
    "dlt_family": None,
    "dlt_origin_topic": None,
    "dlt_origin_partition": None,
    "dlt_origin_offset": None,
    "dlt_origin_group": None,
    "dlt_origin_timestamp": None,
    "dlt_exception_class": None,
    "dlt_exception_message": None,
}


# Header names the dead-letter families write (origin, exception, retry bookkeeping): a replay
# drops them, so that the consumer sees the record as its producer sent it.
HEADER_PREFIXES: tuple[str, ...] = (
    "kafka_dlt-", "kafka_original-", "kafka_exception-", "retry_topic-", "x-original-", "x-exception-", _CONNECT,
)


def is_dead_letter_header(name: str) -> bool:
    """True for a header one of the dead-letter families adds (not the producer's own)."""
    return name.startswith(HEADER_PREFIXES)


def matches(topic: str, patterns: Sequence[str] = DEFAULT_PATTERNS) -> bool:
    return any(fnmatchcase(topic, p) for p in patterns)


def classify(topic: str, headers: Mapping[str, bytes | None],
             patterns: Sequence[str] = DEFAULT_PATTERNS) -> dict[str, Any]:
    """Dead-letter columns for one record; headers maps name → last raw value."""
    for family, origin, exc, binary in _SPRING_FAMILIES:
        if origin + "topic" in headers:
            ts = integer(headers.get(origin + "timestamp"), binary_first=binary)
            return {
                "is_dead_letter": not RETRY_TOPIC.search(topic),
                "dlt_family": family,
                "dlt_origin_topic": text(headers.get(origin + "topic")),
                "dlt_origin_partition": integer(headers.get(origin + "partition"), binary_first=binary),
                "dlt_origin_offset": integer(headers.get(origin + "offset"), binary_first=binary),
                "dlt_origin_group": text(headers.get(origin + "consumer-group")),
                "dlt_origin_timestamp": ts * 1000 if ts is not None else None,
                "dlt_exception_class": text(headers.get(exc + "cause-fqcn") or headers.get(exc + "fqcn")),
                "dlt_exception_message": text(headers.get(exc + "message")),
            }
    if _CONNECT + "topic" in headers:
        connector = text(headers.get(_CONNECT + "connector.name"))
        return {
            "is_dead_letter": True,
            "dlt_family": "connect",
            "dlt_origin_topic": text(headers.get(_CONNECT + "topic")),
            "dlt_origin_partition": integer(headers.get(_CONNECT + "partition"), binary_first=False),
            "dlt_origin_offset": integer(headers.get(_CONNECT + "offset"), binary_first=False),
            # a sink connector consumes as the group connect-<name>
            "dlt_origin_group": f"connect-{connector}" if connector else None,
            "dlt_origin_timestamp": None,
            "dlt_exception_class": text(headers.get(_CONNECT + "exception.class.name")),
            "dlt_exception_message": text(headers.get(_CONNECT + "exception.message")),
        }
    if matches(topic, patterns):
        return {**EMPTY, "is_dead_letter": True, "dlt_family": "topic-pattern"}
    return EMPTY
