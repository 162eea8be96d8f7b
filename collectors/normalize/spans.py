"""The span row, shared by every OTLP decoder (JSON here, protobuf in otlp_proto)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.normalize.semconv import promote

_HEX = re.compile(r"^[0-9a-f]*$")
_ZERO_SPAN = "0" * 16
# Bounds of the store's columns: a value past them would fail a whole Arrow batch.
_MAX_NS = 2**63 - 1
_MAX_INT32 = 2**31 - 1


class BadSpan(ValueError):
    """One span cannot be stored; the reason goes to ingest_errors."""


def check_ids(trace_id: str, span_id: str, parent_span_id: str | None) -> str | None:
    """Validate hex ids; returns the parent id normalised (None for a root)."""
    if len(trace_id) != 32 or not _HEX.match(trace_id) or trace_id == "0" * 32:
        raise BadSpan(f"trace id must be 32 hex digits, not {trace_id[:40]!r}")
    if len(span_id) != 16 or not _HEX.match(span_id) or span_id == _ZERO_SPAN:
        raise BadSpan(f"span id must be 16 hex digits, not {span_id[:40]!r}")
    if not parent_span_id or parent_span_id == _ZERO_SPAN:
        return None
    if len(parent_span_id) != 16 or not _HEX.match(parent_span_id):
        raise BadSpan(f"parent span id must be 16 hex digits, not {parent_span_id[:40]!r}")
    return parent_span_id


# one encoder for every row: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
# ...and JSONEncoder.encode still builds its C encoder per call (~1 µs): keep one. The same C
# code with the same options, so the text is the same; no circular check (decoded data has no cycles).
_C_ENCODE = (
    json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    if json.encoder.c_make_encoder is not None else None
)


def dumps(value: Any) -> str:
    """Compact JSON, as every JSON column of a span row is written."""
    if _C_ENCODE is not None and type(value) in (dict, list):
        return "".join(_C_ENCODE(value, 0))
    return _ENCODER.encode(value)


_dumps = dumps


def span_row(
    *,
    resource: Mapping[str, Any],
    resource_json: str | None = None,
    scope: str | None,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    kind: int,
    flags: int,
    start_ns: int,
    end_ns: int,
    status_code: int,
    status_message: str | None,
    attributes: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    links: Sequence[Mapping[str, Any]],
    source: str,
) -> dict[str, Any]:
    """Build one store row from decoded span fields (ids as lowercase hex, times in ns).

    ``resource_json`` is ``resource`` already serialised: decoders pass it once per
    resource instead of paying for it on every span.
    """
    if kind < 0 or kind > 5:
        raise BadSpan(f"span kind {kind} is not an OTLP SpanKind")
    if start_ns <= 0:
        raise BadSpan("span has no start time")
    if start_ns > _MAX_NS or end_ns > _MAX_NS:
        raise BadSpan("span time is past the year 2262")
    if not 0 <= flags <= _MAX_INT32:
        raise BadSpan(f"span flags {flags} do not fit 31 bits")
    if not 0 <= status_code <= 2:
        raise BadSpan(f"status code {status_code} is not an OTLP StatusCode")
    if end_ns < start_ns:
        end_ns = start_ns
    # item by item rather than row.update(**fields): this runs once per span on the receiver's hot path
    row = promote(attributes)
    row["trace_id"] = trace_id
    row["span_id"] = span_id
    row["parent_span_id"] = parent_span_id
    row["service"] = resource.get("service.name") or "unknown_service"
    instance = resource.get("service.instance.id")
    row["service_instance"] = instance = None if instance is None else str(instance)
    row["scope"] = scope or None
    row["name"] = name
    row["kind"] = kind
    row["flags"] = flags
    row["start_time"] = start_ns // 1000
    row["end_time"] = end_ns // 1000
    row["duration_us"] = (end_ns - start_ns) // 1000
    row["status_code"] = status_code
    row["status_message"] = status_message or None
    row["attributes"] = _dumps(attributes)
    row["resource"] = resource_json if resource_json is not None else _dumps(resource)
    row["events"] = _dumps(list(events)) if events else None
    row["links"] = [
        {"trace_id": ln["trace_id"], "span_id": ln["span_id"],
         "attributes": _dumps(ln["attributes"]) if ln.get("attributes") else None}
        for ln in links
    ] if links else []
    row["source"] = source
    if row["client_id"] is None:
        row["client_id"] = instance
    return row
