"""Stored Kafka headers made readable: the one place that turns a record's headers into text a person reads.

The store keeps headers as a JSON list of ``[name, text]`` (``records.headers``), where
``text`` is the raw value decoded as UTF-8, or ``base64:<…>`` when it is not UTF-8
(collectors/normalize/binary.py). Both lose what some values are: Spring writes the
original partition as a 4-byte big-endian int and the original offset and timestamp as
8-byte ones, so partition 2 is "\\x00\\x00\\x00\\x02" (text to UTF-8) and a timestamp usually
lands as base64. This module knows which headers are binary integers and shows them as the
numbers they are (a timestamp as its UTC time), a ``traceparent`` with its trace id, and any
other binary value as bounded hex. Every page that lists headers (dead letters, a record's
details) and every analysis that reads a header's value (business identity) goes through
``decode_all`` or ``readable_headers``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from collectors.normalize.binary import binary_payload, integer

# The header families whose origin fields are binary ints (docs/architecture.md#dead-letters):
# Spring's dead-letter recoverer, @RetryableTopic and Spring Cloud Stream.
_BINARY_PREFIXES = ("kafka_dlt-original-", "kafka_original-", "x-original-")
_BINARY_INTS = ("partition", "offset", "timestamp")
# Spring's attempt counters are 4-byte ints too (names compared lowercased).
_BINARY_COUNTERS = frozenset({"kafka_deliveryattempt", "kafka_delivery-attempt", "kafka_dlt-delivery-attempt",
                              "retry_topic-attempts", "kafka_attempts"})
# ... and @RetryableTopic's epoch milliseconds.
_BINARY_TIMES = frozenset({"retry_topic-backoff-timestamp", "retry_topic-original-timestamp"})
NO_VALUE = "(no value)"
_HEX_SHOWN = 32  # bytes of an opaque binary value shown


@dataclass(frozen=True)
class Header:
    """One header as read: its name, the value to show (None: the header has no value), how it was decoded."""

    name: str
    value: str | None
    decoded: str  # 'text', 'int', 'time', 'binary' (shown as hex), 'null', 'unreadable'
    trace_id: str | None = None  # a traceparent's trace id, for a link

    @property
    def shown(self) -> str:
        """The value as a cell shows it."""
        return NO_VALUE if self.value is None else self.value


def stored_bytes(stored: str | None) -> bytes | None:
    """The raw value as it came off the wire, from its stored text form."""
    if stored is None:
        return None
    if (payload := binary_payload(stored)) is not None:
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return stored.encode("utf-8", "surrogatepass")
    return stored.encode("utf-8", "surrogatepass")


def binary_shown(stored: str | None) -> str | None:
    """``N bytes (hex) …`` for a value stored in its binary form (``base64:…``, bytes that are not
    UTF-8, such as a binary key); None for text."""
    if (payload := binary_payload(stored)) is None:
        return None
    try:
        return _hex(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        return None


def binary_int_field(name: str) -> str | None:
    """'partition', 'offset', 'timestamp' or 'counter' when ``name`` is a header Spring writes as a binary int."""
    lowered = name.lower()
    if lowered in _BINARY_COUNTERS:
        return "counter"
    if lowered in _BINARY_TIMES:
        return "timestamp"
    for prefix in _BINARY_PREFIXES:
        if lowered.startswith(prefix) and lowered[len(prefix):] in _BINARY_INTS:
            return lowered[len(prefix):]
    return None


def _ms_time(ms: int) -> str | None:
    try:
        at = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC"


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch in "\t\n\r" for ch in text)


def _hex(data: bytes) -> str:
    return f"{len(data)} bytes (hex) {data[:_HEX_SHOWN].hex(' ')}" + (" …" if len(data) > _HEX_SHOWN else "")


def decode(name: str, stored: str | None) -> Header:
    """One stored header value as a person reads it: numbers for binary ints, the time of a
    timestamp, text for text, and ``N bytes (hex) …`` for anything else binary."""
    if stored is None:
        return Header(name, None, "null")
    raw = stored_bytes(stored) or b""
    kind = binary_int_field(name)
    if kind is not None:
        # Spring's binary form first, unless the value is ASCII digits (Connect and others)
        number = integer(raw, binary_first=not raw.isdigit())
        if number is not None:
            if kind == "timestamp" and (when := _ms_time(number)) is not None:
                return Header(name, f"{when} ({number} ms)", "time")
            return Header(name, str(number), "int")
    if name.lower() == "traceparent":
        parts = stored.strip().lower().split("-")
        trace = parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None
        return Header(name, stored, "text", trace_id=trace)
    if binary_payload(stored) is None and _printable(stored):
        return Header(name, stored, "text")
    # never raw control characters or base64 on a page
    return Header(name, _hex(raw), "binary")


def decode_all(stored_json: str | None) -> list[Header]:
    """A record's stored headers column (the JSON list of ``[name, text]``) decoded, in record order."""
    if not stored_json:
        return []
    try:
        pairs = json.loads(stored_json)
    except ValueError:
        return [Header("(headers)", "could not be read", "unreadable")]
    out = []
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 2:
            out.append(decode(str(pair[0]), None if pair[1] is None else str(pair[1])))
    return out


def readable_headers(stored_json: str | None) -> list[tuple[str, str]]:
    """A record's stored headers as (name, readable value) pairs, in order."""
    return [(h.name, h.shown) for h in decode_all(stored_json)]
