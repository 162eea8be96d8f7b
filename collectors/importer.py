"""File import: OTLP JSON lines, Kafka record lines and offset snapshot lines into the store.

Each file is imported in one transaction and remembered by content hash, so importing
the same file again is a no-op. A bad line becomes an ingest-error row; it never stops
the import.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.errors import InputError
from collectors.model import SCHEMAS, error_row, to_table
from collectors.normalize.envelope import parse_time
from collectors.normalize.otlp_json import spans_from_json
from collectors.normalize.records import record_row
from collectors.normalize.wire_format import Decoded, WireDecoder, is_wire_format
from collectors.store import Store

BATCH_ROWS = 100_000
KINDS = ("otlp", "records", "offsets")
_TS_TYPES = {"create": 1, "createtime": 1, "log_append": 2, "logappendtime": 2}


@dataclass
class ImportResult:
    path: str
    kind: str
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    skipped: bool = False  # already imported earlier
    undecoded: int = 0  # wire-format values stored as bytes (their schema could not be had)


def _open(path: Path) -> Any:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return path.open("rb")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_kind(path: Path) -> str:
    """Which of KINDS a file holds, judged by its first non-empty line."""
    try:
        with _open(path) as fh:
            for raw in fh:
                if raw.strip():
                    doc = json.loads(raw)
                    break
            else:
                raise InputError(f"{path} is empty")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except ValueError:
        raise InputError(f"{path} is not JSON lines (first line does not parse)") from None
    if isinstance(doc, dict):
        if "resourceSpans" in doc:
            return "otlp"
        if "topic" in doc and "offset" in doc and "group_id" not in doc:
            return "records"
        if "group_id" in doc or "observed_at" in doc or "polled_at" in doc:
            return "offsets"
    raise InputError(
        f"{path}: cannot tell what this file holds (expected OTLP JSON, Kafka record or offset lines)"
    )


def _int(doc: dict[str, Any], name: str) -> int:
    v = doc.get(name)
    if v is None:
        raise ValueError(f"missing field '{name}'")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' must be an integer, not {v!r}") from None


def _b64(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (TypeError, ValueError):
        raise ValueError(f"'{name}' is not valid base64") from None


def _bytes(doc: dict[str, Any], name: str) -> bytes | None:
    b64 = doc.get(name + "_b64")
    if b64 is not None:
        return _b64(b64, name + "_b64")
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode("utf-8")
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _headers(raw: Any) -> list[tuple[str, bytes | None]]:
    if raw is None:
        return []
    pairs = raw.items() if isinstance(raw, dict) else raw
    out: list[tuple[str, bytes | None]] = []
    for name, v in pairs:
        if v is None:
            out.append((str(name), None))
        elif isinstance(v, dict):
            out.append((str(name), _b64(v.get("b64"), f"header {name}")))
        else:
            out.append((str(name), str(v).encode("utf-8")))
    return out


def record_from_line(doc: dict[str, Any], *, default_cluster: str, tapped_at_us: int, source: str,
                     decoder: WireDecoder | None = None, undecoded: list[str] | None = None) -> dict[str, Any]:
    """One record line of the documented record file format → a record row. With a decoder,
    a wire-format value is decoded through its schema; when it cannot be, the record keeps
    its bytes and the reason is appended to ``undecoded``."""
    value = _bytes(doc, "value")
    decoded = None
    if decoder is not None and is_wire_format(value):
        got = decoder.decode(value)
        if isinstance(got, Decoded):
            decoded = got
        elif undecoded is not None:
            undecoded.append(got)
    ts = doc.get("timestamp")
    ts_us = parse_time(ts)
    ts_type = doc.get("timestamp_type", "create")
    return record_row(
        cluster=str(doc.get("cluster") or default_cluster),
        topic=_require_str(doc, "topic"),
        partition=_int(doc, "partition"),
        offset=_int(doc, "offset"),
        key=_bytes(doc, "key"),
        value=value,
        headers=_headers(doc.get("headers")),
        timestamp_ms=ts_us // 1000 if ts_us is not None else None,
        timestamp_type=_TS_TYPES.get(str(ts_type).lower().replace("-", "_"), 0),
        tapped_at_us=parse_time(doc.get("tapped_at")) or tapped_at_us,
        source=source,
        decoded=decoded,
    )


def _require_str(doc: dict[str, Any], name: str) -> str:
    v = doc.get(name)
    if not isinstance(v, str) or not v:
        raise ValueError(f"'{name}' must be a non-empty string")
    return v


def _offset_row(doc: dict[str, Any], default_cluster: str) -> tuple[str, dict[str, Any]]:
    cluster = str(doc.get("cluster") or default_cluster)
    if "group_id" in doc:
        at = parse_time(doc.get("polled_at"))
        if at is None:
            raise ValueError("'polled_at' is missing or not a time")
        return "group_offsets", {
            "cluster": cluster, "group_id": _require_str(doc, "group_id"), "topic": _require_str(doc, "topic"),
            "partition": _int(doc, "partition"),
            "committed_offset": None if doc.get("committed_offset") is None else int(doc["committed_offset"]),
            "high_watermark": None if doc.get("high_watermark") is None else int(doc["high_watermark"]),
            "state": doc.get("state"), "members": doc.get("members"), "client_id": doc.get("client_id"),
            "polled_at": at,
        }
    at = parse_time(doc.get("observed_at"))
    if at is None:
        raise ValueError("'observed_at' is missing or not a time")
    return "topic_offsets", {
        "cluster": cluster, "topic": _require_str(doc, "topic"), "partition": _int(doc, "partition"),
        "low_watermark": doc.get("low_watermark"), "high_watermark": int(doc["high_watermark"]),
        "observed_at": at,
    }


def _lines(path: Path, progress: Callable[[int], None] | None) -> Iterator[tuple[int, bytes]]:
    with _open(path) as fh:
        for lineno, raw in enumerate(fh, 1):
            if progress is not None:
                progress(len(raw))
            if raw.strip():
                yield lineno, raw


def import_file(store: Store, path: str | os.PathLike[str], *, cluster: str = "default",
                progress: Callable[[int], None] | None = None, decoder: WireDecoder | None = None) -> ImportResult:
    """Import one file in one transaction; a file imported before is skipped. ``decoder``
    decodes schema-registry values (wire format) of record lines."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist or is not a file")
    kind = detect_kind(p)
    digest = _sha256(p)
    result = ImportResult(path=str(p), kind=kind)
    if store.was_imported(digest):
        result.skipped = True
        return result
    source = f"file:{p.name}"
    now_us = int(time.time() * 1_000_000)
    buffers: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}

    def reject(lineno: int, reason: str, raw: bytes | str) -> None:
        result.rejected += 1
        if len(result.reasons) < 5:
            result.reasons.append(f"line {lineno}: {reason}")
        buffers["ingest_errors"].append(error_row(source, f"{p.name}:{lineno}", reason, raw, now_us))

    with store.transaction() as tx:
        def flush() -> None:
            for name, rows in buffers.items():
                if rows:
                    tx.append(name, to_table(rows, SCHEMAS[name]))
                    result.rows[name] = result.rows.get(name, 0) + len(rows)
                    rows.clear()

        pending = 0
        try:
            for lineno, raw in _lines(p, progress):
                try:
                    doc = json.loads(raw)
                    if not isinstance(doc, dict):
                        raise ValueError("line is not a JSON object")
                    if kind == "otlp":
                        rows, bad = spans_from_json(doc, source=source)
                        buffers["spans"].extend(rows)
                        for reason, excerpt in bad:
                            reject(lineno, reason, excerpt)
                        pending += len(rows)
                    elif kind == "records":
                        why: list[str] = []
                        buffers["records"].append(record_from_line(
                            doc, default_cluster=cluster, tapped_at_us=now_us, source=source, decoder=decoder,
                            undecoded=why))
                        for reason in why:  # kept, not rejected: the bytes are stored
                            result.undecoded += 1
                            buffers["ingest_errors"].append(error_row(
                                source, f"{p.name}:{lineno}", f"wire-format value stored undecoded: {reason}",
                                raw, now_us))
                        pending += 1
                    else:
                        table, row = _offset_row(doc, cluster)
                        buffers[table].append(row)
                        pending += 1
                except (ValueError, KeyError, TypeError) as exc:
                    reject(lineno, _reason(exc), raw)
                if pending >= BATCH_ROWS:
                    flush()
                    pending = 0
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read {p}: {exc}") from None
        flush()
        result.rows.pop("ingest_errors", None)
        tx.mark_imported(sha256=digest, path=p.name, kind=kind, size_bytes=p.stat().st_size,
                         rows_imported=sum(result.rows.values()), rows_rejected=result.rejected)
    return result


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at column {exc.colno}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
