"""OTLP/JSON (ExportTraceServiceRequest, or a TracesData line of the Collector's file exporter) → span rows."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from collectors.normalize.binary import BINARY
from collectors.normalize.spans import BadSpan, check_ids, dumps, span_row

_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
}
_STATUS = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_INT_TEXT = re.compile(r"^-?[0-9]{1,20}$")


def _integer(value: Any, what: str) -> int:
    """An OTLP/JSON int64: a JSON integer or its decimal text. Anything else is refused, never
    rounded (a float 2.7 is not 2; True is not 1)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    raise BadSpan(f"{what} must be an integer, not {str(value)[:40]!r}")


def any_value(v: Mapping[str, Any]) -> Any:
    """Decode an OTLP/JSON AnyValue into a Python value."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return _integer(v["intValue"], "intValue")
    if "boolValue" in v:
        if not isinstance(v["boolValue"], bool):
            raise BadSpan(f"boolValue must be true or false, not {str(v['boolValue'])[:40]!r}")
        return v["boolValue"]
    if "doubleValue" in v:
        return float(v["doubleValue"])  # JSON numbers and "NaN"/"Infinity" text, as the mapping allows
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return attributes(v["kvlistValue"].get("values", []))
    if "bytesValue" in v:
        return BINARY + v["bytesValue"]
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    if not kvs:
        return {}
    return {kv["key"]: any_value(kv.get("value") or {}) for kv in kvs}


def _hex_id(value: Any) -> str:
    if not isinstance(value, str):
        raise BadSpan(f"id must be a hex string, not {type(value).__name__}")
    if len(value) in (12, 24) and value.endswith("="):
        # protobuf's canonical JSON mapping writes bytes as base64; some exporters do that
        try:
            return base64.b64decode(value, validate=True).hex()
        except ValueError:
            pass
    return value.lower()


def _enum(value: Any, names: Mapping[str, int]) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and not value.isdigit():
        if value not in names:
            raise BadSpan(f"unknown enum value {value!r}")
        return names[value]
    return _integer(value, "an enum")


def spans_from_json(doc: Mapping[str, Any], *, source: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Decode one request or TracesData object.

    Returns the rows and, for every span that could not be used, (reason, excerpt).
    A bad span never stops the others.
    """
    rows: list[dict[str, Any]] = []
    rejected: list[tuple[str, str]] = []
    resource_spans = doc.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise ValueError("no resourceSpans list: not OTLP trace data")
    for rs in resource_spans:
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        resource_json = dumps(resource)
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            scope = (ss.get("scope") or ss.get("instrumentationLibrary") or {}).get("name")
            for sp in ss.get("spans") or []:
                try:
                    rows.append(_span(sp, resource, resource_json, scope, source))
                except (BadSpan, KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                    reason = str(exc) if isinstance(exc, BadSpan) else f"malformed span: {exc!r}"
                    rejected.append((reason, repr(sp)[:1024]))
    return rows, rejected


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadSpan(f"{what} must be a string, not {type(value).__name__}")
    return value


def _span(
    sp: Mapping[str, Any], resource: dict[str, Any], resource_json: str, scope: str | None, source: str
) -> dict[str, Any]:
    trace_id = _hex_id(sp.get("traceId", ""))
    span_id = _hex_id(sp.get("spanId", ""))
    parent = check_ids(trace_id, span_id, _hex_id(sp.get("parentSpanId") or ""))
    status = sp.get("status") or {}
    events = [
        {"name": ev.get("name"), "time_us": _integer(ev.get("timeUnixNano", 0), "event timeUnixNano") // 1000,
         "attributes": attributes(ev.get("attributes"))}
        for ev in sp.get("events") or []
    ]
    links = []
    for ln in sp.get("links") or []:
        lt, ls = _hex_id(ln.get("traceId", "")), _hex_id(ln.get("spanId", ""))
        check_ids(lt, ls, None)
        links.append({"trace_id": lt, "span_id": ls, "attributes": attributes(ln.get("attributes"))})
    return span_row(
        resource=resource,
        resource_json=resource_json,
        scope=scope,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=_text(sp.get("name"), "span name"),
        kind=_enum(sp.get("kind"), _KINDS),
        flags=_integer(sp.get("flags") or 0, "flags"),
        start_ns=_integer(sp.get("startTimeUnixNano") or 0, "startTimeUnixNano"),
        end_ns=_integer(sp.get("endTimeUnixNano") or 0, "endTimeUnixNano"),
        status_code=_enum(status.get("code"), _STATUS),
        status_message=_text(status.get("message"), "status message") or None,
        attributes=attributes(sp.get("attributes")),
        events=events,
        links=links,
        source=source,
    )
