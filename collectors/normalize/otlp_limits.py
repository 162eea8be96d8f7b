"""Caps on what one OTLP request may hold, checked before the request is decoded.

Decoding costs CPU and memory per element, and the wire costs as little as 2 bytes per
element: a 20 KB gzip body can hold 10M empty events (47 s of CPU and 4 GB once decoded).
So the counts are taken first, cheaply, and a span over a cap is rejected with the reason
(a partial success) before anything of it is built:

- protobuf: a scan of the wire format (:func:`screen_proto`). Every element (an event, a link,
  a key-value, an array element) takes at least 2 bytes, so a span of ``2 × smallest cap`` bytes
  or less cannot pass a per-span cap and is skipped without a look inside, and a body of
  ``2 × request_values`` bytes or less cannot pass the request cap; only bigger ones are counted,
  and every count stops at its cap. Spans over a cap are cut out of the body before protobuf
  parses it.
- JSON: a body with more objects and arrays than ``4 × request_values`` is refused before
  json.loads builds them (:func:`check_json_size`); the parsed document is then screened like
  the protobuf one (:func:`screen_json`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

Rejected = list[tuple[str, str]]  # (reason, excerpt) of each span not decoded
MAX_DEPTH = 32  # arrays and kvlists inside one another


@dataclass(frozen=True)
class Limits:
    """Per-span and per-request caps (OtlpConfig carries them; ``--otlp-max-*`` set them)."""

    resource_attributes: int = 1024
    span_attributes: int = 4096  # collectors.normalize.otlp_proto.MAX_ATTRIBUTES, the decoder's own
    span_events: int = 1024
    span_links: int = 1024
    item_attributes: int = 1024  # per event and per link
    # attribute values (AnyValues, nested ones included), events and links in one request
    request_values: int = 250_000

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 1:
                raise ValueError(f"the OTLP cap {f.name} must be positive, not {getattr(self, f.name)}")

    @property
    def smallest_span_cap(self) -> int:
        return min(self.span_attributes, self.span_events, self.span_links, self.item_attributes)

    def request_reason(self) -> str:
        return (f"the request holds more than {self.request_values} values (attribute values, events and "
                f"links; --otlp-max-request-values)")


class _Malformed(Exception):
    """The wire is not valid protobuf: left to the protobuf parser, which says why."""


class _Over(Exception):
    """A cap is passed; the message is the reason."""


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos >= end:
        raise _Malformed
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result, shift = b & 0x7F, 7
    pos += 1
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field between pos and end; others skipped."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        wire = key & 7
        if wire == 2:
            n, pos = _varint(buf, pos, end)
            if pos + n > end:
                raise _Malformed
            yield key >> 3, pos, pos + n
            pos += n
        elif wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise _Malformed
    if pos > end:
        raise _Malformed


def _count(buf: bytes, start: int, end: int, field: int, cap: int) -> int:
    """How many ``field`` entries there are, stopping at cap + 1."""
    n = 0
    for f, _, _ in _fields(buf, start, end):
        if f == field:
            n += 1
            if n > cap:
                break
    return n


def _any_values(buf: bytes, start: int, end: int, budget: int, depth: int) -> int:
    """AnyValues in one AnyValue (itself and what its arrays and kvlists hold), stopping past budget."""
    if depth > MAX_DEPTH:
        raise _Over(f"span has values nested more than {MAX_DEPTH} deep")
    n = 1
    for f, s, e in _fields(buf, start, end):
        if f in (5, 6):  # array_value: values = 1 (AnyValue); kvlist_value: values = 1 (KeyValue)
            inner = _any_values if f == 5 else _kv_values
            for g, gs, ge in _fields(buf, s, e):
                if g == 1:
                    n += inner(buf, gs, ge, budget - n, depth + 1)
                    if n > budget:
                        return n
    return n


def _kv_values(buf: bytes, start: int, end: int, budget: int, depth: int) -> int:
    """AnyValues under one KeyValue (one at least: a key without a value still is an attribute)."""
    n = 0
    for f, s, e in _fields(buf, start, end):
        if f == 2:
            n += _any_values(buf, s, e, budget - n, depth)
    return max(n, 1)


def _span(buf: bytes, start: int, end: int, lim: Limits, budget: int, exact: bool) -> int:
    """Values in one Span (exact only when asked; 0 otherwise); raises _Over past a cap."""
    if not exact and (end - start) // 2 <= lim.smallest_span_cap:
        return 0  # too small to hold more than any per-span cap
    attrs = events = links = values = 0
    for f, s, e in _fields(buf, start, end):
        if f == 9:  # attributes
            attrs += 1
            if attrs > lim.span_attributes:
                raise _Over(f"span has more attributes than the limit of {lim.span_attributes}")
            if exact:
                values += _kv_values(buf, s, e, budget - values, 0)
        elif f in (11, 13):  # events (attributes = 3), links (attributes = 4)
            what, attr_field = ("event", 3) if f == 11 else ("link", 4)
            if f == 11:
                events += 1
                if events > lim.span_events:
                    raise _Over(f"span has more events than the limit of {lim.span_events}")
            else:
                links += 1
                if links > lim.span_links:
                    raise _Over(f"span has more links than the limit of {lim.span_links}")
            values += 1
            if exact:
                n = 0
                for g, gs, ge in _fields(buf, s, e):
                    if g == attr_field:
                        n += 1
                        values += _kv_values(buf, gs, ge, budget - values, 0)
                        if n > lim.item_attributes or values > budget:
                            break
            elif (e - s) // 2 > lim.item_attributes:
                n = _count(buf, s, e, attr_field, lim.item_attributes)
            else:
                n = 0
            if n > lim.item_attributes:
                raise _Over(f"span has a {what} with more attributes than the limit of {lim.item_attributes}")
        if exact and values > budget:
            raise _Over(lim.request_reason())
    return values


def _span_excerpt(buf: bytes, start: int, end: int) -> str:
    """trace id, span id and name of a span (from its first fields: never the whole span)."""
    found: dict[int, bytes] = {}
    try:
        for i, (f, s, e) in enumerate(_fields(buf, start, end)):
            if f in (1, 2, 5) and f not in found:
                found[f] = buf[s:min(e, s + 200)]
            if len(found) == 3 or i > 64:
                break
    except _Malformed:
        pass
    name = found.get(5, b"").decode("utf-8", "replace")
    return (f"span trace_id={found.get(1, b'').hex()[:64]} span_id={found.get(2, b'').hex()[:32]} "
            f"name={name!r} bytes={end - start}")


def _enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _enc_varint(number << 3 | 2) + _enc_varint(len(payload)) + payload


def screen_proto(body: bytes, lim: Limits) -> tuple[bytes, Rejected]:
    """The body without the spans that pass a cap, and (reason, excerpt) of each of those.

    A body that is not valid protobuf comes back as it is: the parser then says what is wrong.
    """
    exact = len(body) // 2 > lim.request_values
    small = 2 * lim.smallest_span_cap
    total, rejected = 0, []
    # the request as (field, start, end) pieces; scope_spans as (2, [pieces]); rebuilt only when cut
    request: list[tuple[int, Any]] = []
    try:
        for f, rs_s, rs_e in _fields(body, 0, len(body)):
            if f != 1:
                continue
            resource_reason = None
            pieces: list[tuple[int, Any]] = []
            for g, s, e in _fields(body, rs_s, rs_e):
                if g == 1:  # Resource: attributes = 1
                    if exact or (e - s) // 2 > lim.resource_attributes:
                        if _count(body, s, e, 1, lim.resource_attributes) > lim.resource_attributes:
                            resource_reason = (f"its resource has more attributes than the limit of "
                                               f"{lim.resource_attributes}")
                        elif exact:
                            for h, hs, he in _fields(body, s, e):
                                if h == 1:
                                    total += _kv_values(body, hs, he, lim.request_values - total + 1, 0)
                    pieces.append((g, (s, e)))
                elif g != 2:
                    pieces.append((g, (s, e)))
            for g, s, e in _fields(body, rs_s, rs_e):
                if g != 2:
                    continue
                kept: list[tuple[int, tuple[int, int]]] = []
                for h, hs, he in _fields(body, s, e):
                    if h == 2 and he - hs <= small and not exact and resource_reason is None:
                        kept.append((2, (hs, he)))  # the common span: too small to pass a cap
                        continue
                    if h != 2:
                        kept.append((h, (hs, he)))
                        continue
                    reason = resource_reason
                    if reason is None and total > lim.request_values:
                        reason = lim.request_reason()
                    if reason is None:
                        try:
                            total += _span(body, hs, he, lim, lim.request_values - total, exact)
                        except _Over as over:
                            reason = str(over)
                    if reason is None:
                        kept.append((h, (hs, he)))
                    else:
                        rejected.append((reason, _span_excerpt(body, hs, he)))
                pieces.append((2, kept))
            if resource_reason is None:  # else none of it is decoded, the resource least of all
                request.append((1, pieces))
    except _Malformed:
        return body, []
    if not rejected:
        return body, []
    return _rebuild(body, request), rejected


def _rebuild(body: bytes, request: list[tuple[int, Any]]) -> bytes:
    def encode(pieces: list[tuple[int, Any]]) -> bytes:
        out = []
        for number, what in pieces:
            if isinstance(what, list):
                out.append(_field(number, encode(what)))
            else:
                out.append(_field(number, body[what[0]:what[1]]))
        return b"".join(out)

    return encode(request)


# -- JSON ---------------------------------------------------------------------------------

def check_json_size(body: bytes, lim: Limits) -> None:
    """Refuse, before json.loads builds them, a body of more objects and arrays than the caps allow.

    Braces inside strings count too, so this over-counts: the bound is 4 per value, where an
    attribute takes 2 (its key-value object and its AnyValue object).
    """
    containers = body.count(b"{") + body.count(b"[")
    bound = 4 * lim.request_values + 10_000
    if containers > bound:
        raise ValueError(f"the JSON body holds {containers} objects and arrays, more than {bound} "
                         f"(4 per value of --otlp-max-request-values)")


def _json_values(kvs: Any, budget: int, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise _Over(f"span has values nested more than {MAX_DEPTH} deep")
    if not isinstance(kvs, list):
        return 0
    n = 0
    for kv in kvs:
        n += 1 + (_json_nested(kv.get("value"), budget - n, depth) if isinstance(kv, dict) else 0)
        if n > budget:
            break
    return n


def _json_nested(value: Any, budget: int, depth: int) -> int:
    """Values inside an AnyValue's array or kvlist (not the AnyValue itself)."""
    if not isinstance(value, dict):
        return 0
    for key, inner in (("arrayValue", _json_array), ("kvlistValue", _json_values)):
        holder = value.get(key)
        if isinstance(holder, dict):
            return inner(holder.get("values"), budget, depth + 1)
    return 0


def _json_array(values: Any, budget: int, depth: int) -> int:
    if depth > MAX_DEPTH:
        raise _Over(f"span has values nested more than {MAX_DEPTH} deep")
    if not isinstance(values, list):
        return 0
    n = 0
    for v in values:
        n += 1 + _json_nested(v, budget - n, depth)
        if n > budget:
            break
    return n


def _json_span(sp: dict[str, Any], lim: Limits, budget: int) -> int:
    attrs, events, links = sp.get("attributes"), sp.get("events"), sp.get("links")
    for what, items, cap in (("attributes", attrs, lim.span_attributes), ("events", events, lim.span_events),
                             ("links", links, lim.span_links)):
        if isinstance(items, list) and len(items) > cap:
            raise _Over(f"span has {len(items)} {what}, more than the limit of {cap}")
    values = _json_values(attrs, budget, 0)
    for what, items in (("event", events), ("link", links)):
        for item in items if isinstance(items, list) else ():
            values += 1
            item_attrs = item.get("attributes") if isinstance(item, dict) else None
            if isinstance(item_attrs, list) and len(item_attrs) > lim.item_attributes:
                raise _Over(f"span has a {what} with {len(item_attrs)} attributes, more than the limit of "
                            f"{lim.item_attributes}")
            values += _json_values(item_attrs, budget - values, 0)
            if values > budget:
                raise _Over(lim.request_reason())
    if values > budget:
        raise _Over(lim.request_reason())
    return values


def screen_json(doc: dict[str, Any], lim: Limits) -> Rejected:
    """Take the spans that pass a cap out of a parsed OTLP/JSON document; (reason, excerpt) of each.

    Anything of the wrong shape is left in place for the decoder, which says what is wrong.
    """
    rejected: Rejected = []
    total = 0
    resource_spans = doc.get("resourceSpans")
    for rs in resource_spans if isinstance(resource_spans, list) else ():
        if not isinstance(rs, dict):
            continue
        resource = rs.get("resource")
        res_attrs = resource.get("attributes") if isinstance(resource, dict) else None
        resource_reason = None
        if isinstance(res_attrs, list) and len(res_attrs) > lim.resource_attributes:
            resource_reason = (f"its resource has {len(res_attrs)} attributes, more than the limit of "
                               f"{lim.resource_attributes}")
        else:
            try:
                total += _json_values(res_attrs, lim.request_values - total + 1, 0)
            except _Over as over:
                resource_reason = str(over)
        for key in ("scopeSpans", "instrumentationLibrarySpans"):
            for ss in rs.get(key) or () if isinstance(rs.get(key), list) else ():
                if not isinstance(ss, dict) or not isinstance(ss.get("spans"), list):
                    continue
                kept = []
                for sp in ss["spans"]:
                    reason = resource_reason
                    if reason is None and total > lim.request_values:
                        reason = lim.request_reason()
                    if reason is None and isinstance(sp, dict):
                        try:
                            total += _json_span(sp, lim, lim.request_values - total)
                        except _Over as over:
                            reason = str(over)
                    if reason is None:
                        kept.append(sp)
                    else:
                        rejected.append((reason, _json_excerpt(sp)))
                ss["spans"] = kept
    return rejected


def _json_excerpt(sp: Any) -> str:
    if not isinstance(sp, dict):
        return repr(sp)[:200]
    return (f"span traceId={str(sp.get('traceId'))[:64]} spanId={str(sp.get('spanId'))[:32]} "
            f"name={str(sp.get('name'))[:200]!r}")
