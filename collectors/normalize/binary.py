"""Small decoders for header values: text, big-endian integers, excerpts."""

from __future__ import annotations

import base64
import struct

EXCERPT_BYTES = 1024  # what an ingest error or a shown value keeps of bytes (collectors.model re-exports it)
BINARY = "base64:"  # the stored text form of bytes that are not UTF-8: this prefix, then their base64


def binary_text(raw: bytes) -> str:
    """Bytes in their stored text form, ``base64:<...>``."""
    return BINARY + base64.b64encode(raw).decode("ascii")


def binary_payload(stored: str | None) -> str | None:
    """The base64 of a value stored in its binary form; None for text."""
    return stored[len(BINARY):] if stored is not None and stored.startswith(BINARY) else None


def text(raw: bytes | None) -> str | None:
    """A header value as text; binary values become 'base64:<...>'."""
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return binary_text(raw)


def integer(raw: bytes | None, *, binary_first: bool) -> int | None:
    """Decode an integer header: 4 or 8 bytes big-endian (Spring), or ASCII digits (Connect)."""
    if not raw:
        return None
    if binary_first and len(raw) in (4, 8):
        return struct.unpack(">i" if len(raw) == 4 else ">q", raw)[0]
    try:
        return int(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        if len(raw) in (4, 8):
            return struct.unpack(">i" if len(raw) == 4 else ">q", raw)[0]
        return None


# Kafka Connect's JsonConverter with its default schemas.enable=true writes {"schema": …, "payload": …},
# the schema first: a Debezium change event's schema alone fills several KiB
CONNECT_SCHEMA = b'{"schema":'
CONNECT_PAYLOAD = b',"payload":'
CONNECT_SHOWN = b'{"payload":'  # how value_excerpt begins what it keeps of such a value


def value_excerpt(value: bytes | None) -> str | None:
    """A record value's excerpt: :func:`excerpt`, except that a Kafka Connect JSON value too long
    to keep whole keeps its payload, as ``{"payload":…``, rather than the first KiB of its schema,
    where no id of the row is (the payload is the first ``,"payload":`` after the schema: the
    schema's own keys are never "payload")."""
    if value is not None and len(value) > EXCERPT_BYTES and value.startswith(CONNECT_SCHEMA):
        at = value.find(CONNECT_PAYLOAD)
        if at > 0:  # what excerpt reads of it: its first EXCERPT_BYTES, and whether there are more
            start = at + len(CONNECT_PAYLOAD)
            return excerpt(CONNECT_SHOWN + value[start:start + EXCERPT_BYTES + 1 - len(CONNECT_SHOWN)])
    return excerpt(value)


def excerpt(value: bytes | None) -> str | None:
    """The first bytes of a value as text (base64 when it is not UTF-8), bounded."""
    if value is None:
        return None
    head = value[:EXCERPT_BYTES]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(value) > EXCERPT_BYTES and exc.start >= EXCERPT_BYTES - 4:
            return head[: exc.start].decode("utf-8")  # a character cut by the bound
        return binary_text(head[: EXCERPT_BYTES * 3 // 4])
