"""Stored Kafka headers made readable: the one place that turns a record's headers into text a person reads.

The store keeps headers as a JSON list of ``[name, text]`` (``records.headers``), where
``text`` is the raw value decoded as UTF-8, or ``base64:<…>`` when it is not UTF-8
(collectors/normalize/binary.py). Both lose what some values are: Spring writes the
original partition as a 4-byte big-endian int and the original offset and timestamp as
8-byte ones, so partition 0 is four NUL bytes ("text" to UTF-8) and a timestamp usually
lands as base64. This module knows which headers are binary integers and shows them as the
numbers they are (a timestamp also as its UTC time); every page that lists headers (dead
letters, record details) reads them through ``readable_headers``.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from datetime import UTC, datetime

# The header families whose integers are binary (docs/architecture.md#dead-letters):
# Spring's dead-letter recoverer, @RetryableTopic and Spring Cloud Stream.
_BINARY_PREFIXES = ("kafka_dlt-original-", "kafka_original-", "x-original-")
_BINARY_INTS = ("partition", "offset", "timestamp")
# Spring's retry attempt counters are 4-byte ints too.
_BINARY_COUNTERS = ("kafka_delivery-attempt", "kafka_dlt-delivery-attempt", "retry_topic-attempts",
                    "kafka_attempts")


def stored_bytes(stored: str | None) -> bytes | None:
    """The raw value as it came off the wire, from its stored text form."""
    if stored is None:
        return None
    if stored.startswith("base64:"):
        try:
            return base64.b64decode(stored[len("base64:"):], validate=True)
        except (binascii.Error, ValueError):
            return stored.encode("utf-8")
    return stored.encode("utf-8")


def binary_int_field(name: str) -> str | None:
    """'partition', 'offset', 'timestamp' or 'counter' when ``name`` is a header Spring writes as a binary int."""
    lowered = name.lower()
    if lowered in _BINARY_COUNTERS:
        return "counter"
    for prefix in _BINARY_PREFIXES:
        if lowered.startswith(prefix) and lowered[len(prefix):] in _BINARY_INTS:
            return lowered[len(prefix):]
    return None


def _as_int(raw: bytes) -> int | None:
    if len(raw) in (4, 8):
        return struct.unpack(">i" if len(raw) == 4 else ">q", raw)[0]
    try:
        return int(raw.decode("ascii").strip())  # some producers write the digits as text
    except (UnicodeDecodeError, ValueError):
        return None


def _printable(text: str) -> bool:
    return all(ch.isprintable() or ch in "\t\n\r" for ch in text)


def header_value(name: str, stored: str | None) -> str:
    """One header's value as a person reads it: numbers for binary ints, the time of a
    timestamp, text for text, and ``bytes (hex) …`` for anything else binary."""
    if stored is None:
        return "(no value)"
    raw = stored_bytes(stored)
    kind = binary_int_field(name)
    if kind is not None and raw is not None:
        number = _as_int(raw)
        if number is not None:
            if kind == "timestamp":
                try:
                    at = datetime.fromtimestamp(number / 1000, UTC)
                    return f"{number} ({at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC)"
                except (OverflowError, OSError, ValueError):
                    return str(number)
            return str(number)
    if not stored.startswith("base64:") and _printable(stored):
        return stored
    data = raw or b""
    shown = data[:32].hex(" ")
    return f"{len(data)} bytes (hex) {shown}" + (" …" if len(data) > 32 else "")


def readable_headers(stored_json: str | None) -> list[tuple[str, str]]:
    """A record's stored headers (the JSON list of ``[name, text]``) as (name, readable value) pairs, in order."""
    if not stored_json:
        return []
    try:
        pairs = json.loads(stored_json)
    except ValueError:
        return [("(headers)", "could not be read")]
    out = []
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2:
            name, value = pair
            out.append((str(name), header_value(str(name), value if isinstance(value, str) else None)))
    return out
