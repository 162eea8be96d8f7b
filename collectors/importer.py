"""File import: OTLP JSON lines, Kafka record lines and offset snapshot lines into the store.

A file commits in batches of lines. Each batch commits with the file's progress (its content
hash and the last line the batch covers, table import_progress), so a failure (a full disk)
costs at most the batch in flight, and a re-run resumes after the last committed line: nothing
is stored twice and nothing is lost. A complete file is remembered by content hash in
imported_files, so importing it again changes nothing. A bad line becomes one ingest-error row
with its reason; it never stops the import.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from collectors.errors import InputError
from collectors.lines import read_lines
from collectors.model import SCHEMAS, error_row, to_table, to_table_or_reject
from collectors.normalize.import_lines import KINDS, BadLine, decode, kind_of, parse_line
from collectors.normalize.spans import dumps
from collectors.normalize.wire_format import WireDecoder
from collectors.store import Store
from collectors.store.db import write_error

__all__ = ["BATCH_ROWS", "KINDS", "MAX_LINE_BYTES", "ImportResult", "detect_kind", "import_file"]

# Lines per committed batch, and bytes of line text a batch may hold before it commits anyway:
# whichever comes first bounds both the memory of an import and what one failure can cost.
BATCH_ROWS = 50_000
BATCH_BYTES = 64 << 20
# Longest line imported (an OTLP file exporter line holds a whole batch of spans); longer ones
# are rejected with their length, read past in chunks, never held whole.
MAX_LINE_BYTES = 64 << 20
# Non-blank lines looked at to tell what a file holds (lines before the first telling one are
# imported or rejected like any other).
_DETECT_LINES = 1000


@dataclass
class ImportResult:
    path: str
    kind: str
    rows: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    skipped: bool = False  # already imported earlier
    resumed_after: int = 0  # lines an earlier, interrupted import had committed
    undecoded: int = 0  # wire-format values stored as bytes (their schema could not be had)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_kind(path: Path, *, max_line_bytes: int = MAX_LINE_BYTES) -> str:
    """Which of KINDS a file holds, judged by its first line that says."""
    seen = 0
    try:
        for line in read_lines(path, max_line_bytes=max_line_bytes):
            if line.over_long:
                continue
            seen += 1
            try:
                kind = kind_of(decode(line.data))
            except BadLine:
                kind = None
            if kind is not None:
                return kind
            if seen >= _DETECT_LINES:
                break
    except (OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    if seen == 0:
        raise InputError(f"{path} is empty")
    raise InputError(
        f"{path}: cannot tell what this file holds (expected OTLP JSON, Kafka record or offset lines)"
    )


class _Batch:
    """Rows and error rows of the lines since the last commit."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
        self.lines = 0
        self.bytes = 0

    def clear(self) -> None:
        for rows in self.tables.values():
            rows.clear()
        self.lines = 0
        self.bytes = 0


def import_file(store: Store, path: str | os.PathLike[str], *, cluster: str = "default",
                progress: Callable[[int], None] | None = None, batch_rows: int = BATCH_ROWS,
                max_line_bytes: int = MAX_LINE_BYTES, decoder: WireDecoder | None = None) -> ImportResult:
    """Import one file in batches; a file imported before is skipped, an interrupted one resumed.

    ``decoder`` decodes schema-registry values (wire format) of record lines.
    Raises InputError when the file cannot be used at all, StoreError when the store cannot be
    written (what earlier batches committed stays, and a re-run continues from there).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} does not exist or is not a file")
    kind = detect_kind(p, max_line_bytes=max_line_bytes)
    digest = _sha256(p)
    result = ImportResult(path=str(p), kind=kind)
    if store.was_imported(digest):
        result.skipped = True
        return result
    done = store.import_progress(digest)
    result.resumed_after, rows_before, rejected_before = done or (0, 0, 0)
    source = f"file:{p.name}"
    now_us = int(time.time() * 1_000_000)
    batch = _Batch()

    def reject(lineno: int, reason: str, raw: bytes | str) -> None:
        result.rejected += 1
        if len(result.reasons) < 5:
            result.reasons.append(f"line {lineno}: {reason}")
        batch.tables["ingest_errors"].append(error_row(source, f"{p.name}:{lineno}", reason, raw, now_us))

    def commit(lineno: int, *, complete: bool) -> None:
        tables = {}
        for name, rows in batch.tables.items():
            if rows and name != "ingest_errors":
                tables[name] = _table(name, rows, lambda reason, row: reject(lineno, reason, dumps(row)))
        if batch.tables["ingest_errors"]:  # last: a row _table refused adds one
            tables["ingest_errors"] = to_table(batch.tables["ingest_errors"], SCHEMAS["ingest_errors"])
        imported = sum(t.num_rows for n, t in tables.items() if n != "ingest_errors")
        try:
            with store.transaction() as tx:
                for name, table in tables.items():
                    tx.append(name, table)
                total_rows = rows_before + sum(result.rows.values()) + imported
                total_rejected = rejected_before + result.rejected
                if complete:
                    tx.mark_imported(sha256=digest, path=p.name, kind=kind, size_bytes=p.stat().st_size,
                                     rows_imported=total_rows, rows_rejected=total_rejected)
                else:
                    tx.set_import_progress(sha256=digest, path=p.name, kind=kind, lines_done=lineno,
                                           rows_imported=total_rows, rows_rejected=total_rejected)
        except duckdb.Error as exc:
            raise write_error(store.path, exc, doing=f"importing {p.name} (line {lineno})") from None
        for name, table in tables.items():
            if name != "ingest_errors":
                result.rows[name] = result.rows.get(name, 0) + table.num_rows
        batch.clear()

    lineno = result.resumed_after
    try:
        for line in read_lines(p, max_line_bytes=max_line_bytes, progress=progress):
            if line.number <= result.resumed_after:
                continue
            lineno = line.number
            batch.lines += 1
            batch.bytes += len(line.data)
            if line.over_long:
                reject(lineno, f"line longer than {max_line_bytes} bytes ({line.length} bytes); "
                               "raise --max-line-bytes to import it", line.data)
            else:
                try:
                    parsed = parse_line(kind, line.data, cluster=cluster, now_us=now_us, source=source,
                                        decoder=decoder)
                except BadLine as exc:
                    reject(lineno, str(exc), line.data)
                except Exception as exc:  # noqa: BLE001 (a shape no reader foresaw still costs its line only)
                    reject(lineno, f"line not understood: {type(exc).__name__}: {str(exc)[:200]}".splitlines()[0],
                           line.data)
                else:
                    for table, row in parsed.rows:
                        batch.tables[table].append(row)
                    for reason, excerpt in parsed.rejected:
                        reject(lineno, reason, excerpt)
                    for reason in parsed.undecoded:  # kept, not rejected: the bytes are stored
                        result.undecoded += 1
                        batch.tables["ingest_errors"].append(error_row(
                            source, f"{p.name}:{lineno}", f"wire-format value stored undecoded: {reason}",
                            line.data, now_us))
            if batch.lines >= batch_rows or batch.bytes >= BATCH_BYTES:
                commit(lineno, complete=False)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # the file ends early or is corrupt past this point: keep every line read before it
        reject(lineno + 1, f"cannot read on: {exc}", b"")
    commit(lineno, complete=True)
    return result


def _table(name: str, rows: list[dict[str, Any]], reject_row: Callable[[str, dict[str, Any]], None]) -> pa.Table:
    """Arrow table of a batch's rows. Every row was checked against its schema (misfit); should
    Arrow still refuse one, that row alone is rejected rather than the batch."""
    return to_table_or_reject(rows, SCHEMAS[name], lambda row, exc: reject_row(
        f"does not fit the {name} table: {str(exc).splitlines()[0]}", row))
