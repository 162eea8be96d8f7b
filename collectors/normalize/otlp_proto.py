"""OTLP protobuf (ExportTraceServiceRequest) → span rows, straight from the message, no JSON detour.

Produces the same rows as :mod:`collectors.normalize.otlp_json` for the same spans: both
end in :func:`collectors.normalize.spans.span_row`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collectors.normalize.binary import binary_text
from collectors.normalize.spans import SPAN_COLUMNS, BadSpan, check_ids, dumps, span_values

# A span with more attributes than this is rejected rather than walked: one request must not
# cost the receiver seconds of CPU (the OTel SDK's own default limit is 128).
MAX_ATTRIBUTES = 4096


class UndecodableRequest(ValueError):
    """The body is not an ExportTraceServiceRequest at all."""


def parse_request(data: bytes) -> ExportTraceServiceRequest:
    """Parse protobuf bytes, raising :class:`UndecodableRequest` with a one-line reason."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(data)
    except DecodeError as exc:
        raise UndecodableRequest(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    return req


def any_value(v: Any) -> Any:
    """Decode an AnyValue message into the Python value the JSON decoder would give."""
    which = v.WhichOneof("value")
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        return v.double_value
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return binary_text(v.bytes_value)
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        # the common case first: a non-empty string needs no oneof lookup (an empty one might be unset)
        text = v.string_value
        if text:
            out[kv.key] = text
            continue
        which = v.WhichOneof("value")
        if which == "int_value":
            out[kv.key] = v.int_value
        elif which == "string_value":
            out[kv.key] = text
        else:
            out[kv.key] = any_value(v)
    return out


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _ids(sp: Any) -> tuple[str, str, str | None]:
    """Hex ids of a span; well-formed bytes skip the shared check's regexes (they cannot fail them)."""
    t, s, p = sp.trace_id, sp.span_id, sp.parent_span_id
    if len(t) == 16 and len(s) == 8 and t != _ZERO_TRACE and s != _ZERO_SPAN and (not p or len(p) == 8):
        return t.hex(), s.hex(), (p.hex() if p and p != _ZERO_SPAN else None)
    # something is off: the shared check says what, in the same words as for JSON
    th, sh = t.hex(), s.hex()
    return th, sh, check_ids(th, sh, p.hex())


def spans_from_proto(
    req: ExportTraceServiceRequest | bytes, *, source: str
) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Decode one request into rows, and (reason, excerpt) for every span that could not be used."""
    values, rejected = span_values_from_proto(req, source=source)
    return [dict(zip(SPAN_COLUMNS, v, strict=True)) for v in values], rejected


def span_values_from_proto(
    req: ExportTraceServiceRequest | bytes, *, source: str
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    """Like :func:`spans_from_proto`, each row a tuple in SPAN_COLUMNS order (what the receiver turns into Arrow)."""
    if isinstance(req, bytes | bytearray | memoryview):
        req = parse_request(bytes(req))
    rows: list[tuple[Any, ...]] = []
    rejected: list[tuple[str, str]] = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        resource_json = dumps(resource)
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for sp in ss.spans:
                try:
                    rows.append(_span(sp, resource, resource_json, scope, source))
                except BadSpan as exc:
                    rejected.append((str(exc), _excerpt(sp)))
    return rows, rejected


def _excerpt(sp: Any) -> str:
    # never str() the whole message: a span with a million attributes would print megabytes
    return (
        f"span trace_id={sp.trace_id.hex()[:64]} span_id={sp.span_id.hex()[:32]} name={sp.name[:200]!r} "
        f"attributes={len(sp.attributes)} events={len(sp.events)} links={len(sp.links)}"
    )


def _span(sp: Any, resource: dict[str, Any], resource_json: str, scope: str, source: str) -> tuple[Any, ...]:
    # _ids() inlined and span_values() called positionally: this runs once per span
    t, s, p = sp.trace_id, sp.span_id, sp.parent_span_id
    if len(t) == 16 and len(s) == 8 and t != _ZERO_TRACE and s != _ZERO_SPAN and (not p or len(p) == 8):
        trace_id, span_id, parent = t.hex(), s.hex(), (p.hex() if p and p != _ZERO_SPAN else None)
    else:
        trace_id, span_id, parent = _ids(sp)
    attrs = sp.attributes
    n_attrs = len(attrs)
    if n_attrs > MAX_ATTRIBUTES:
        raise BadSpan(f"span has {n_attrs} attributes, more than the limit of {MAX_ATTRIBUTES}")
    events = sp.events
    events = [
        {"name": ev.name, "time_us": ev.time_unix_nano // 1000, "attributes": attributes(ev.attributes)}
        for ev in events
    ] if len(events) else ()
    links = sp.links
    if len(links):
        links = []
        for ln in sp.links:
            lt, ls = ln.trace_id.hex(), ln.span_id.hex()
            check_ids(lt, ls, None)
            links.append({"trace_id": lt, "span_id": ls, "attributes": attributes(ln.attributes)})
    else:
        links = ()
    status = sp.status
    return span_values(resource, resource_json, scope, trace_id, span_id, parent, sp.name, sp.kind, sp.flags,
                       sp.start_time_unix_nano, sp.end_time_unix_nano, status.code, status.message,
                       attributes(attrs) if n_attrs else {}, events, links, source)
