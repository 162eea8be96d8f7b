"""Stored record headers, decoded for reading.

The tap keeps each header value as text (a JSON list of [name, text]); a value that is not
UTF-8 is kept as 'base64:<...>' (collectors.normalize.binary.text). Spring Kafka writes some
headers as big-endian binary ints, which are then either base64 or, when every byte is below
0x80 (a small partition number), text of control characters. Reading them as text shows
"\\x00\\x00\\x00\\x02" or base64; here they become the numbers and times they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

# Prefixes of the Spring families whose origin fields are binary ints (collectors.normalize.deadletter).
_SPRING_ORIGIN = ("kafka_dlt-original-", "kafka_original-", "x-original-")
# Headers Spring writes as 4- or 8-byte big-endian ints: the record's place, and attempt counters.
_INT_SUFFIXES = ("partition", "offset")
_INT_NAMES = frozenset({"kafka_deliveryAttempt", "retry_topic-attempts"})
# ... and those holding epoch milliseconds.
_TIME_NAMES = frozenset({"retry_topic-backoff-timestamp", "retry_topic-original-timestamp"})


@dataclass(frozen=True)
class Header:
    """One header as read: its name, the value to show, and how it was decoded."""

    name: str
    value: str | None
    decoded: str  # 'text', 'int', 'time', 'binary' (base64 shown as is), 'null'
    trace_id: str | None = None  # a traceparent's trace id, for a link


def stored_bytes(stored: str | None) -> bytes | None:
    """The header's original bytes from its stored text."""
    if stored is None:
        return None
    if stored.startswith("base64:"):
        try:
            return base64.b64decode(stored[7:], validate=True)
        except (binascii.Error, ValueError):
            return stored.encode("utf-8", "surrogatepass")
    return stored.encode("utf-8", "surrogatepass")


def _kind(name: str) -> str | None:
    for prefix in _SPRING_ORIGIN:
        if name.startswith(prefix):
            rest = name[len(prefix):]
            if rest in _INT_SUFFIXES:
                return "int"
            if rest == "timestamp":
                return "time"
    if name in _INT_NAMES:
        return "int"
    if name in _TIME_NAMES:
        return "time"
    return None


def _binary_int(raw: bytes) -> int | None:
    if len(raw) == 4:
        return struct.unpack(">i", raw)[0]
    if len(raw) == 8:
        return struct.unpack(">q", raw)[0]
    return None


def _as_int(raw: bytes) -> int | None:
    # Spring's binary form first; Connect and others send ASCII digits
    if (n := _binary_int(raw)) is not None and not raw.isdigit():
        return n
    try:
        return int(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return _binary_int(raw)


def _ms_time(ms: int) -> str | None:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    except (OverflowError, OSError, ValueError):
        return None


def decode(name: str, stored: str | None) -> Header:
    """One stored header value as it should read."""
    if stored is None:
        return Header(name, None, "null")
    kind = _kind(name)
    if kind is not None:
        raw = stored_bytes(stored) or b""
        n = _as_int(raw)
        if n is not None:
            if kind == "time" and (when := _ms_time(n)) is not None:
                return Header(name, f"{when} ({n} ms)", "time")
            return Header(name, str(n), "int")
    if name.lower() == "traceparent":
        parts = stored.strip().lower().split("-")
        trace = parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None
        return Header(name, stored, "text", trace_id=trace)
    if stored.startswith("base64:"):
        return Header(name, stored, "binary")
    if any(ord(c) < 0x20 and c not in "\t\r\n" for c in stored):
        # control bytes read as text: show them escaped, never as raw control characters
        return Header(name, stored.encode("unicode_escape").decode("ascii"), "binary")
    return Header(name, stored, "text")


def decode_all(headers: str | None) -> list[Header]:
    """The stored headers column (a JSON list of [name, text]) decoded, in record order."""
    if not headers:
        return []
    try:
        pairs = json.loads(headers)
    except ValueError:
        return [Header("(unreadable headers)", headers[:200], "binary")]
    out = []
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 2:
            out.append(decode(str(pair[0]), None if pair[1] is None else str(pair[1])))
    return out
