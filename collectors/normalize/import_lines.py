"""One line of an import file → rows, or the reason it cannot be stored.

Strict on purpose: a value is stored as written or the line is rejected with a reason. Nothing
is coerced in a way that loses information (an offset 2.7 is not 2, a cluster ["x"] is not
"['x']"), and nothing a column cannot hold reaches a batch, where it would fail every row.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from collectors.model import SCHEMAS, bad_text, misfit
from collectors.normalize import jsonkeys
from collectors.normalize.envelope import parse_time
from collectors.normalize.otlp_json import spans_from_json
from collectors.normalize.records import record_row
from collectors.normalize.wire_format import Decoded, WireDecoder, is_wire_format

KINDS = ("otlp", "records", "offsets")
_TS_TYPES = {"create": 1, "createtime": 1, "create_time": 1, "log_append": 2, "logappendtime": 2,
             "log_append_time": 2, "unknown": 0, "none": 0}
_INT_TEXT = re.compile(r"^-?[0-9]{1,20}$")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
PARTITION = (0, 2**31 - 1)
OFFSET = (0, 2**63 - 1)


class BadLine(ValueError):
    """The line cannot be stored; the message is its reason, one line."""


@dataclass
class Parsed:
    """What one line gave: rows per table, and (reason, excerpt) for each part that was rejected."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[str, str | bytes]] = field(default_factory=list)
    undecoded: list[str] = field(default_factory=list)  # why a wire-format value was kept as bytes


def kind_of(doc: Any) -> str | None:
    """Which of KINDS a parsed line belongs to, or None when it does not say."""
    if isinstance(doc, dict):
        if "resourceSpans" in doc:
            return "otlp"
        if "topic" in doc and "offset" in doc and "group_id" not in doc:
            return "records"
        if "group_id" in doc or "observed_at" in doc or "polled_at" in doc:
            return "offsets"
    return None


def decode(raw: bytes) -> Any:
    """A line's JSON (repeated names: first wins), or BadLine."""
    try:
        return jsonkeys.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except UnicodeDecodeError:
        raise BadLine("not JSON: the line is not UTF-8 text") from None
    except RecursionError:
        raise BadLine("JSON nested too deeply (Python's parser stops near 1,000 levels)") from None


def parse_line(kind: str, raw: bytes, *, cluster: str, now_us: int, source: str,
               decoder: WireDecoder | None = None) -> Parsed:
    """Rows of one line of a file of ``kind``. Raises BadLine when the whole line is unusable."""
    doc = decode(raw)
    if not isinstance(doc, dict):
        raise BadLine("line is not a JSON object")
    out = Parsed()
    if kind == "otlp":
        try:
            rows, bad = spans_from_json(doc, source=source)
        except RecursionError:
            raise BadLine("OTLP values nested too deeply") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadLine(_reason(exc)) from None
        for row in rows:
            problem = misfit(row, SCHEMAS["spans"])
            if problem:
                out.rejected.append((f"span {row.get('span_id')}: {problem}", raw))
            else:
                out.rows.append(("spans", row))
        out.rejected.extend(bad)
        return out
    try:
        if kind == "records":
            table, row = "records", record_from_line(doc, default_cluster=cluster, tapped_at_us=now_us,
                                                     source=source, decoder=decoder, undecoded=out.undecoded)
        else:
            table, row = offset_row(doc, cluster)
    except BadLine:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a shape no check above foresaw
        raise BadLine(_reason(exc)) from None
    problem = misfit(row, SCHEMAS[table])
    if problem:
        raise BadLine(problem)
    out.rows.append((table, row))
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


# -- strict field readers --------------------------------------------------------------------

def integer(doc: dict[str, Any], name: str, bounds: tuple[int, int], *, required: bool) -> int | None:
    """An integer field: a JSON integer, or its decimal text (OTLP writes int64 as text)."""
    v = doc.get(name)
    if v is None:
        if required:
            raise BadLine(f"missing field '{name}'")
        return None
    if type(v) is int:
        n = v
    elif isinstance(v, str) and _INT_TEXT.match(v.strip()):
        n = int(v)
    else:
        raise BadLine(f"'{name}' must be an integer, not {_show(v)}")
    if not bounds[0] <= n <= bounds[1]:
        raise BadLine(f"'{name}' {n} is out of range ({bounds[0]}..{bounds[1]})")
    return n


def string(doc: dict[str, Any], name: str, *, required: bool) -> str | None:
    """A text field: a non-empty JSON string of valid Unicode (or null when not required)."""
    v = doc.get(name)
    if v is None or v == "":
        if required:
            raise BadLine(f"'{name}' must be a non-empty string")
        return None
    if not isinstance(v, str):
        raise BadLine(f"'{name}' must be a string, not {_show(v)}")
    problem = bad_text(v)
    if problem:
        raise BadLine(f"'{name}' {problem}")
    return v


def time_us(doc: dict[str, Any], name: str, *, required: bool) -> int | None:
    v = doc.get(name)
    if v is None:
        if required:
            raise BadLine(f"'{name}' is missing")
        return None
    at = parse_time(v)
    if at is None:
        raise BadLine(f"'{name}' is not a time: {_show(v)}")
    return at


def _show(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=True, default=str) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise BadLine(f"'{name}' must be base64 text, not {_show(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise BadLine(f"'{name}' is not valid base64") from None


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadLine(f"{what} {bad_text(text)}") from None


def _bytes(doc: dict[str, Any], name: str) -> bytes | None:
    b64 = doc.get(name + "_b64")
    if b64 is not None:
        return _b64(b64, name + "_b64")
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, str):
        return _utf8(v, f"'{name}'")
    return _utf8(json.dumps(v, separators=(",", ":"), ensure_ascii=False), f"'{name}'")


def _headers(raw: Any) -> list[tuple[str, bytes | None]]:
    if raw is None:
        return []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = raw
    else:
        raise BadLine(f"'headers' must be a list of [name, value] pairs or an object, not {_show(raw)}")
    out: list[tuple[str, bytes | None]] = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise BadLine(f"a header must be a [name, value] pair, not {_show(pair)}")
        name, v = pair
        if not isinstance(name, str):
            raise BadLine(f"a header name must be a string, not {_show(name)}")
        _utf8(name, f"header name {name!r:.40}")
        if v is None:
            out.append((name, None))
        elif isinstance(v, dict):
            out.append((name, _b64(v.get("b64"), f"header {name} b64")))
        elif isinstance(v, str):
            out.append((name, _utf8(v, f"header {name}")))
        elif type(v) is int:
            out.append((name, str(v).encode("ascii")))
        else:
            raise BadLine(f"header {name} must be text, null, an integer or {{\"b64\": ...}}, not {_show(v)}")
    return out


def _cluster(doc: dict[str, Any], default: str) -> str:
    return string(doc, "cluster", required=False) or default


def record_from_line(doc: dict[str, Any], *, default_cluster: str, tapped_at_us: int, source: str,
                     decoder: WireDecoder | None = None, undecoded: list[str] | None = None) -> dict[str, Any]:
    """One record line of the documented record file format → a record row (or BadLine). With a
    decoder, a wire-format value is decoded through its schema; when it cannot be, the record
    keeps its bytes and the reason is appended to ``undecoded``."""
    value = _bytes(doc, "value")
    decoded = None
    if decoder is not None and is_wire_format(value):
        got = decoder.decode(value)
        if isinstance(got, Decoded):
            decoded = got
        elif undecoded is not None:
            undecoded.append(got)
    ts_us = time_us(doc, "timestamp", required=False)
    ts_type = doc.get("timestamp_type", "create")
    if not isinstance(ts_type, str) or ts_type.lower().replace("-", "_") not in _TS_TYPES:
        raise BadLine(f"'timestamp_type' must be create or log_append, not {_show(ts_type)}")
    return record_row(
        cluster=_cluster(doc, default_cluster),
        topic=string(doc, "topic", required=True),  # type: ignore[arg-type]
        partition=integer(doc, "partition", PARTITION, required=True),  # type: ignore[arg-type]
        offset=integer(doc, "offset", OFFSET, required=True),  # type: ignore[arg-type]
        key=_bytes(doc, "key"),
        value=value,
        headers=_headers(doc.get("headers")),
        timestamp_ms=ts_us // 1000 if ts_us is not None else None,
        timestamp_type=_TS_TYPES[ts_type.lower().replace("-", "_")],
        tapped_at_us=time_us(doc, "tapped_at", required=False) or tapped_at_us,
        source=source,
        decoded=decoded,
    )


def offset_row(doc: dict[str, Any], default_cluster: str) -> tuple[str, dict[str, Any]]:
    """One offset snapshot line → ("group_offsets" | "topic_offsets", row) (or BadLine)."""
    cluster = _cluster(doc, default_cluster)
    if "group_id" in doc:
        return "group_offsets", {
            "cluster": cluster, "group_id": string(doc, "group_id", required=True),
            "topic": string(doc, "topic", required=True),
            "partition": integer(doc, "partition", PARTITION, required=True),
            "committed_offset": integer(doc, "committed_offset", INT64, required=False),
            "high_watermark": integer(doc, "high_watermark", INT64, required=False),
            "state": string(doc, "state", required=False),
            "members": integer(doc, "members", (0, INT32[1]), required=False),
            "client_id": string(doc, "client_id", required=False),
            "polled_at": time_us(doc, "polled_at", required=True),
        }
    return "topic_offsets", {
        "cluster": cluster, "topic": string(doc, "topic", required=True),
        "partition": integer(doc, "partition", PARTITION, required=True),
        "low_watermark": integer(doc, "low_watermark", INT64, required=False),
        "high_watermark": integer(doc, "high_watermark", INT64, required=True),
        "observed_at": time_us(doc, "observed_at", required=True),
    }
