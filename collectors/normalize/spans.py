"""The span row, shared by every OTLP decoder (JSON here, protobuf in otlp_proto)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from collectors.model import SPAN_SCHEMA
from collectors.normalize.semconv import COLUMNS, promote_values

_HEX = re.compile(r"^[0-9a-f]*$")
_ZERO_SPAN = "0" * 16
# Bounds of the store's columns: a value past them would fail a whole Arrow batch.
_MAX_NS = 2**63 - 1
_MAX_INT32 = 2**31 - 1
_CLIENT_ID = COLUMNS.index("client_id")


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


# The row as a tuple in SPAN_SCHEMA order: decoders that build Arrow tables transpose a batch of
# these at C speed (collectors.model.table_from_tuples) instead of a dict per span and a pass per column.
SPAN_COLUMNS: tuple[str, ...] = tuple(SPAN_SCHEMA.names)
_PROMOTED_AT = SPAN_COLUMNS.index("links") + 1
if SPAN_COLUMNS[_PROMOTED_AT:-1] != COLUMNS or SPAN_COLUMNS[-1] != "source":
    raise RuntimeError("span_values() no longer matches SPAN_SCHEMA's column order")


def span_values(  # positional too: the protobuf decoder calls it once per span, and keywords cost
    resource: Mapping[str, Any],
    resource_json: str | None,
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
) -> tuple[Any, ...]:
    """One store row from decoded span fields (ids as lowercase hex, times in ns), as a tuple in
    :data:`SPAN_COLUMNS` order; :func:`span_row` is the same row as a dict.

    ``resource_json`` is ``resource`` already serialised (or None): decoders pass it once per
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
    promoted = promote_values(attributes)
    instance = resource.get("service.instance.id")
    if instance is not None:
        instance = str(instance)
    if promoted[_CLIENT_ID] is None:
        promoted[_CLIENT_ID] = instance
    return (
        trace_id,
        span_id,
        parent_span_id,
        resource.get("service.name") or "unknown_service",
        instance,
        scope or None,
        name,
        kind,
        flags,
        start_ns // 1000,
        end_ns // 1000,
        (end_ns - start_ns) // 1000,
        status_code,
        status_message or None,
        _dumps(attributes),
        resource_json if resource_json is not None else _dumps(resource),
        _dumps(list(events)) if events else None,
        [
            {"trace_id": ln["trace_id"], "span_id": ln["span_id"],
             "attributes": _dumps(ln["attributes"]) if ln.get("attributes") else None}
            for ln in links
        ] if links else [],
        *promoted,
        source,
    )


def span_row(**fields: Any) -> dict[str, Any]:
    """Build one store row (a dict keyed by SPAN_SCHEMA's names) from decoded span fields: see :func:`span_values`."""
    fields.setdefault("resource_json", None)
    return dict(zip(SPAN_COLUMNS, span_values(**fields), strict=True))
