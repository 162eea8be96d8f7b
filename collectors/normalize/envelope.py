"""Event envelope fields: CloudEvents (binary and structured mode) or plain JSON values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from collectors.normalize import jsonkeys
from collectors.normalize.binary import text

# JSON value fields tried in order, per envelope column.
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "event_id": ("eventId", "event_id", "id", "messageId"),
    "event_type": ("eventType", "event_type", "type"),
    "event_version": ("eventVersion", "event_version", "version", "schemaVersion"),
    "event_time": ("occurredAt", "occurred_at", "occurredOn", "eventTime", "event_time", "timestamp", "time"),
    "event_source": ("source", "producer"),
    "causation_id": ("causationId", "causation_id"),
    "correlation_id": ("correlationId", "correlation_id"),
}
# Header names tried for the same columns when the value carries none (the tap's fast paths read them too).
HEADER_FIELDS: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id", "eventId", "message_id", "id"),
    "event_type": ("event_type", "eventType", "__TypeId__", "type"),
    "event_version": ("event_version", "eventVersion", "version", "schema_version"),
    "causation_id": ("causation_id", "causationId", "ce_causationid"),
    "correlation_id": ("correlation_id", "correlationId", "ce_correlationid", "X-Correlation-Id"),
}
# Objects a JSON value may nest its envelope in, tried in order when its top level names neither an
# event id nor an event type: {"metadata": {"eventId": …, "timestamp": …}, "payload": {…}}
CONTAINERS = ("metadata", "meta", "header", "envelope")
NONE: dict[str, Any] = {k: None for k in DEFAULT_FIELDS} | {"envelope": "none"}
MAX_JSON_BYTES = 1 << 20


def parse_time(value: Any) -> int | None:
    """An event time as µs since the epoch: ISO 8601 text, or epoch seconds/ms/µs as a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if not math.isfinite(v) or v < 0 or v > 1e20:
            return None  # NaN, infinities and times past any unit's range are no time at all
        if v > 1e17:
            return int(v / 1000)  # ns
        if v > 1e14:
            return int(v)  # µs
        if v > 1e11:
            return int(v * 1000)  # ms
        return int(v * 1_000_000)  # s
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1_000_000)
    return None


def _first(obj: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        v = obj.get(name)
        if v is not None:
            return v
    return None


def _str(v: Any) -> str | None:
    if v is None:
        return None
    text = str(v)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a JSON "\ud800" escape decodes to a lone surrogate Arrow cannot store
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def extract(headers: Mapping[str, bytes | None], value: bytes | None,
            fields: Mapping[str, Sequence[str]] = DEFAULT_FIELDS) -> dict[str, Any]:
    """Envelope columns for one record (headers: name → last raw value)."""
    content_type = (text(headers.get("content-type")) or "").lower()
    doc: Any = None
    if value and len(value) <= MAX_JSON_BYTES and value[:1] in (b"{", b" ", b"\n", b"\t"):
        try:
            doc = jsonkeys.loads(value)
        except ValueError:
            doc = None
    if not isinstance(doc, dict):
        doc = None
    return _from_doc(headers, doc, content_type.startswith("application/cloudevents"), "json", fields)


def extract_decoded(headers: Mapping[str, bytes | None], doc: Any, fmt: str, version: int | None,
                    fields: Mapping[str, Sequence[str]] = DEFAULT_FIELDS) -> dict[str, Any]:
    """Envelope columns for a value decoded through its schema (collectors.normalize.wire_format).

    The document is read as a JSON value is; a record carrying CloudEvents' own attributes
    (specversion, id, type) is a structured CloudEvent whatever its content type, as Avro
    CloudEvents are; and the schema's registry version is the event's version when the
    value names none."""
    from collectors.normalize.wire_format import top_level

    doc = top_level(doc) if isinstance(doc, dict) else None
    structured = doc is not None and "specversion" in doc and ("id" in doc or "type" in doc)
    out = _from_doc(headers, doc, structured, fmt, fields)
    if out["event_version"] is None and version is not None:
        out["event_version"] = str(version)
    return out


def _fill(out: dict[str, Any], doc: Mapping[str, Any], fields: Mapping[str, Sequence[str]]) -> None:
    """The envelope columns ``out`` has no value for yet, from the value's fields: those of the
    object it nests its envelope in first (CONTAINERS), when its own top level names neither an
    event id nor an event type."""
    if not _names_event(doc, fields):
        for name in CONTAINERS:
            inner = doc.get(name)
            if isinstance(inner, dict) and _names_event(inner, fields):
                _fill_from(out, inner, fields)
                break
    _fill_from(out, doc, fields)


def _names_event(doc: Mapping[str, Any], fields: Mapping[str, Sequence[str]]) -> bool:
    """Whether ``doc`` names an event id or an event type."""
    return _first(doc, fields["event_id"]) is not None or _first(doc, fields["event_type"]) is not None


def _fill_from(out: dict[str, Any], doc: Mapping[str, Any], fields: Mapping[str, Sequence[str]]) -> None:
    for column, names in fields.items():
        if out[column] is None:
            v = _first(doc, names)
            out[column] = parse_time(v) if column == "event_time" else _str(v)


def _from_doc(headers: Mapping[str, bytes | None], doc: dict[str, Any] | None, structured: bool, kind: str,
              fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    out = dict(NONE)
    if "ce_id" in headers or "ce_type" in headers:
        out.update(
            envelope="cloudevents-binary",
            event_id=text(headers.get("ce_id")),
            event_type=text(headers.get("ce_type")),
            event_source=text(headers.get("ce_source")),
            event_time=parse_time(text(headers.get("ce_time"))),
            event_version=text(headers.get("ce_dataversion") or headers.get("ce_version")
                               or headers.get("ce_dataschema")),
            causation_id=text(headers.get("ce_causationid")),
            correlation_id=text(headers.get("ce_correlationid")),
        )
        if doc is not None:
            # a producer that sets ce_type (or ce_id) beside a JSON value carrying its own id, time or
            # version: the value fills what the ce_ headers did not say, as it would without them
            _fill(out, doc, fields)
    elif structured and doc is not None:
        out.update(
            envelope="cloudevents-structured",
            event_id=_str(doc.get("id")),
            event_type=_str(doc.get("type")),
            event_source=_str(doc.get("source")),
            event_time=parse_time(doc.get("time")),
            event_version=_str(doc.get("dataversion") or doc.get("version") or doc.get("dataschema")),
            causation_id=_str(doc.get("causationid")),
            correlation_id=_str(doc.get("correlationid")),
        )
    elif doc is not None:
        out["envelope"] = kind
        _fill(out, doc, fields)
        if out["event_type"] is None and out["event_id"] is None:
            out["envelope"] = "none"
    # headers fill what the value did not say
    for column, names in HEADER_FIELDS.items():
        if out[column] is None:
            out[column] = text(_first(headers, names))
    return out
