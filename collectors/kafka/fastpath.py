"""The tap's native path: per-record work in Rust (collectors/kafka/native, built at install).

The consumer thread copies each consume() call's messages into a native chunk (no Python
objects per field), and the normalizer thread computes record_row's columns for a batch of
chunks without the GIL, straight into Arrow buffers. The native code claims only records
whose outcome it can reproduce exactly and marks the rest, which go through
:func:`collectors.normalize.records.record_row` one by one, as on the bulk-query path
(collectors.kafka.batch). tests/collectors/kafka/test_batch_parity.py holds all three paths together.

Without a Rust toolchain at install the module is absent and the tap uses the bulk query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from collectors.kafka import bulk_sql
from collectors.kafka.batch import BulkNormalizer, ReferenceRows
from collectors.kafka.headers import headers_unreadable
from collectors.model import RECORD_SCHEMA
from collectors.normalize import envelope

try:
    from collectors.kafka import _native
except ImportError:  # built without Rust: the bulk query does the work
    _native = None


class PanicException(BaseException):
    """Stands in for pyo3's PanicException (a BaseException) when the module is absent."""


if _native is not None:
    PanicException = _native.PanicException  # noqa: F811

_COMPUTED = ("key", "timestamp", "timestamp_type", "headers", "value_size", "value_excerpt", "value_hash",
             "trace_id", "parent_span_id", "envelope", *bulk_sql.STRING_COLUMNS, "event_time", "topic",
             "partition", "offset")


def available() -> bool:
    return _native is not None


class NativeBatch:
    """A batch as native chunks, one per consume() call (RawBatch's interface)."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks

    @classmethod
    def from_messages(cls, msgs: Sequence[Any]) -> NativeBatch:
        chunk = _native.collect(msgs if isinstance(msgs, list) else list(msgs))
        for position in chunk.unreadable_headers:
            headers_unreadable(*position)
        return cls([chunk])

    @classmethod
    def concat(cls, parts: Sequence[NativeBatch]) -> NativeBatch:
        return cls([c for p in parts for c in p.chunks])

    @property
    def num_rows(self) -> int:
        return sum(map(len, self.chunks))

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.chunks)

    def fields(self, i: int) -> dict[str, Any]:
        for c in self.chunks:
            if i < len(c):
                return c.fields(i)
            i -= len(c)
        raise IndexError(i)

    def all_fields(self) -> list[dict[str, Any]]:
        return [c.fields(i) for c in self.chunks for i in range(len(c))]

    def positions(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset) the batch reaches."""
        reached: dict[tuple[str, int], int] = {}
        for c in self.chunks:
            for t, p, o in c.reached():
                reached[(t, p)] = max(o, reached.get((t, p), o))
        return [(t, p, o) for (t, p), o in sorted(reached.items())]


def _array(typ: pa.DataType, spec: tuple[Any, ...]) -> pa.Array:
    n, nulls, valid, *bufs = spec
    return pa.Array.from_buffers(typ, n, [None if valid is None else pa.py_buffer(valid),
                                          *(pa.py_buffer(b) for b in bufs)], null_count=nulls)


class NativeNormalizer:
    """The native path: native capture and normalizer, then the reference for the records it marks.

    A message the native capture cannot take (a bug, never data) makes the tap switch to
    :meth:`fallback`, the bulk path, which shares this one's reference rows and counters."""

    path = "native"

    def __init__(self, rows: ReferenceRows) -> None:
        self.rows = rows
        fields = envelope.DEFAULT_FIELDS
        self._native = _native.Normalizer(
            [list(fields[c]) for c in bulk_sql.STRING_COLUMNS] + [list(fields["event_time"])],
            [list(bulk_sql.HEADER_FIELDS.get(c, ())) for c in bulk_sql.STRING_COLUMNS],
            list(bulk_sql.SLOW_HEADERS), envelope.MAX_JSON_BYTES, list(envelope.CONTAINERS))

    @staticmethod
    def capture(msgs: Sequence[Any]) -> NativeBatch:
        return NativeBatch.from_messages(msgs)

    @staticmethod
    def concat(parts: Sequence[NativeBatch]) -> NativeBatch:
        return NativeBatch.concat(parts)

    def convert(self, batch: NativeBatch, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        cols = self._native.run(batch.chunks)
        n = cols["slow"][0]
        given = {name: _array(RECORD_SCHEMA.field(name).type, cols[name]) for name in _COMPUTED}
        topic = given["topic"]
        is_dlt = pc.is_in(topic, value_set=pa.array(self.rows.dlt_topics(topic), pa.string()))
        given |= {**self.rows.constant_columns(n, tapped_at_us), "is_dead_letter": is_dlt,
                  "dlt_family": pc.if_else(is_dlt, pa.scalar("topic-pattern"), pa.scalar(None, pa.string()))}
        out = pa.Table.from_arrays([given[f.name] if f.name in given else pa.nulls(n, f.type) for f in RECORD_SCHEMA],
                                   schema=RECORD_SCHEMA)
        return self.rows.with_reference(out, _array(pa.bool_(), cols["slow"]), batch, tapped_at_us)

    def reference(self, batch: NativeBatch, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        return self.rows.rows(batch.all_fields(), tapped_at_us)

    def fallback(self) -> BulkNormalizer:
        return BulkNormalizer(self.rows)

    def close(self) -> None:
        pass
