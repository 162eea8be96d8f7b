"""Kafka records → record rows: trace context, envelope, dead-letter origin.

A record arrives as raw fields (what confluent-kafka's Message or a record file gives):
key and value as bytes or None, headers as a list of (name, bytes | None) pairs, the broker
timestamp in ms with its type (0 none, 1 create time, 2 log-append time).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from collectors.normalize import deadletter, envelope
from collectors.normalize.binary import excerpt, integer, text, value_excerpt
from collectors.normalize.wire_format import Decoded, json_default

TIMESTAMP_TYPES = {0: "unknown", 1: "create", 2: "log_append"}
_DELIVERY_HEADERS = ("kafka_deliveryAttempt", "delivery_attempt", "retry_topic-attempts", "x-delivery-attempt")


def parse_traceparent(raw: bytes | None) -> tuple[str | None, str | None]:
    """W3C traceparent '00-<32 hex>-<16 hex>-<2 hex>' → (trace id, parent span id)."""
    t = text(raw)
    if not t:
        return None, None
    parts = t.strip().lower().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None, None
    try:
        int(parts[1], 16), int(parts[2], 16)
    except ValueError:
        return None, None
    if parts[1] == "0" * 32 or parts[2] == "0" * 16:
        return None, None
    return parts[1], parts[2]


def decoded_columns(last: dict[str, bytes | None], decoded: Decoded) -> dict[str, Any]:
    """The columns a decoded value sets: the envelope's, and the excerpt (the value as JSON)."""
    out = envelope.extract_decoded(last, decoded.doc, decoded.fmt, decoded.version)
    out["value_excerpt"] = excerpt(json.dumps(decoded.doc, ensure_ascii=False, default=json_default
                                              ).encode("utf-8", "replace"))
    return out


def record_row(
    *,
    cluster: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
    timestamp_ms: int | None,
    timestamp_type: int,
    tapped_at_us: int,
    source: str,
    dlt_patterns: Sequence[str] = deadletter.DEFAULT_PATTERNS,
    decoded: Decoded | None = None,
) -> dict[str, Any]:
    """One record row. Never raises on odd content: what cannot be known is NULL.

    ``decoded``: the value as decoded through its schema (wire-format values): the envelope
    comes from it, and the excerpt shows it as JSON rather than the framed bytes."""
    headers = headers or []
    last: dict[str, bytes | None] = {}
    for name, raw in headers:
        last[name] = raw
    trace_id, parent = parse_traceparent(last.get("traceparent"))
    row: dict[str, Any] = {
        "cluster": cluster,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else text(key),
        "timestamp": timestamp_ms * 1000 if timestamp_ms is not None and timestamp_ms >= 0 else None,
        "timestamp_type": TIMESTAMP_TYPES.get(timestamp_type, "unknown"),
        "headers": json.dumps([[n, text(v)] for n, v in headers], ensure_ascii=False) if headers else None,
        "value_size": -1 if value is None else len(value),
        "value_excerpt": value_excerpt(value),
        "value_hash": None if value is None else hashlib.blake2b(value, digest_size=8).hexdigest(),
        "trace_id": trace_id,
        "parent_span_id": parent,
        "delivery_attempt": next(
            (integer(last[h], binary_first=True) for h in _DELIVERY_HEADERS if last.get(h)), None
        ),
        "tapped_at": tapped_at_us,
        "source": source,
    }
    if decoded is None:
        row.update(envelope.extract(last, value))
    else:
        row.update(decoded_columns(last, decoded))
    row.update(deadletter.classify(topic, last, dlt_patterns))
    return row
