"""Consumed messages → record rows: the reference and bulk normalizers, and what all three share.

Per-message Python work is what limits the tap (docs/architecture.md#the-tap), so a batch is turned into Arrow
columns with a handful of C-level passes, and the envelope, trace context and header lookups
run as one vectorised DuckDB query over the whole batch. That query only claims the
records whose outcome it can reproduce exactly (canonical traceparent, JSON objects that
Python's json module reads the same way, ISO or epoch event times, no CloudEvents or
dead-letter headers, ...); every other record is marked and goes through
:func:`collectors.normalize.records.record_row`, the reference, one by one (ReferenceRows).
collectors.kafka.normalizers chooses among the three paths; one table of cases
(tests/collectors/kafka/test_batch_parity.py) holds them together.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from collectors.kafka import bulk_sql
from collectors.kafka.headers import message_headers
from collectors.model import EXCERPT_BYTES, RECORD_SCHEMA, TS, error_row, to_table
from collectors.normalize import deadletter
from collectors.normalize.binary import text, value_excerpt
from collectors.normalize.records import record_row
from collectors.store.db import connect_memory

log = logging.getLogger(__name__)

_RELEVANT = pa.array(bulk_sql.RELEVANT_HEADERS, pa.string())
_SLOW = pa.array(bulk_sql.SLOW_HEADERS, pa.string())
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
_CANDIDATE_START = (b"{", b" ", b"\n", b"\t")


def _decode(v: bytes | None) -> str | None:
    if v is None:
        return None
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _as_text(arr: pa.Array, *, base64_fallback: bool) -> pa.Array:
    """Binary → UTF-8 text in one validated cast; element by element only when that fails."""
    try:
        return arr.cast(pa.string())
    except pa.ArrowInvalid:
        items = arr.to_pylist()
        return pa.array([text(v) if base64_fallback else _decode(v) for v in items], pa.string())


_blake2b = hashlib.blake2b


def _blake(v: bytes | None) -> str | None:
    return None if v is None else _blake2b(v, digest_size=8).hexdigest()


class RawBatch:
    """A batch as the consumer thread leaves it: per-record columns (``table``), the exact bytes
    of values, keys and headers, and where each record's headers start. Built with a handful
    of C-level passes over the Message objects (no per-message dicts), so the messages can go
    at once; the vectorised work on these columns is done later, on the normalizer's thread."""

    __slots__ = ("table", "values", "keys", "names", "hbin", "offsets", "has_headers")

    def __init__(self, table: pa.Table, values: pa.Array, keys: pa.Array, names: pa.Array, hbin: pa.Array,
                 offsets: np.ndarray, has_headers: np.ndarray) -> None:
        self.table, self.values, self.keys, self.names, self.hbin = table, values, keys, names, hbin
        self.offsets, self.has_headers = offsets, has_headers

    @classmethod
    def from_messages(cls, msgs: Sequence[Any]) -> RawBatch:
        from confluent_kafka import Message

        n = len(msgs)
        values = list(map(Message.value, msgs))
        hs_raw = list(map(message_headers, msgs))  # once a message (see message_headers)
        hs = [h or () for h in hs_raw]
        ts = list(map(Message.timestamp, msgs))
        counts = np.fromiter(map(len, hs), dtype=np.int32, count=n)
        flat = list(chain.from_iterable(hs))
        table = pa.table({
            "topic": pa.array(list(map(Message.topic, msgs)), pa.string()),
            "partition": pa.array(list(map(Message.partition, msgs)), pa.int32()),
            "offset": pa.array(list(map(Message.offset, msgs)), pa.int64()),
            "value_hash": pa.array([None if v is None else _blake2b(v, digest_size=8).hexdigest() for v in values],
                                   pa.string()),
            "ts_type": pa.array(list(map(_FIRST, ts)), pa.int8()),
            "ts_ms": pa.array(list(map(_SECOND, ts)), pa.int64()),
        })
        return cls(table, pa.array(values, pa.binary()), pa.array(list(map(Message.key, msgs)), pa.binary()),
                   pa.array(list(map(_FIRST, flat)), pa.string()), pa.array(list(map(_SECOND, flat)), pa.binary()),
                   np.concatenate([np.zeros(1, np.int32), np.cumsum(counts, dtype=np.int32)]),
                   np.fromiter((h is not None for h in hs_raw), dtype=bool, count=n))

    @classmethod
    def concat(cls, parts: Sequence[RawBatch]) -> RawBatch:
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0] + [len(p.names) for p in parts[:-1]], dtype=np.int32)
        offsets = np.concatenate([np.zeros(1, np.int32)] + [p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)])
        return cls(pa.concat_tables([p.table for p in parts]),
                   *(pa.concat_arrays([getattr(p, a) for p in parts]) for a in ("values", "keys", "names", "hbin")),
                   offsets, np.concatenate([p.has_headers for p in parts]))

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def nbytes(self) -> int:
        return self.values.nbytes + self.hbin.nbytes

    def fields(self, i: int) -> dict[str, Any]:
        """record_row's raw fields for record i, as its Message gave them."""
        t = self.table
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        headers = (list(zip(self.names[lo:hi].to_pylist(), self.hbin[lo:hi].to_pylist(), strict=True))
                   if self.has_headers[i] else None)
        return {"topic": t["topic"][i].as_py(), "partition": t["partition"][i].as_py(),
                "offset": t["offset"][i].as_py(), "key": self.keys[i].as_py(), "value": self.values[i].as_py(),
                "headers": headers, "timestamp_ms": t["ts_ms"][i].as_py(), "timestamp_type": t["ts_type"][i].as_py()}

    def all_fields(self) -> list[dict[str, Any]]:
        return [self.fields(i) for i in range(self.num_rows)]

    def positions(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset) the batch reaches: offsets rise within a partition."""
        reached = self.table.group_by(["topic", "partition"]).aggregate([("offset", "max")]).to_pylist()
        return sorted((r["topic"], r["partition"], r["offset_max"] + 1) for r in reached)


class ReferenceRows:
    """What every normalizer shares: the columns every record of a batch has in common, the
    dead-letter topics, and the reference path, normalize's record_row one record at a time,
    for the records a fast path did not claim (and for whole batches on the reference path)."""

    def __init__(self, *, cluster: str, source: str = "kafka",
                 dlt_patterns: Sequence[str] = deadletter.DEFAULT_PATTERNS) -> None:
        self.cluster, self.source, self.dlt_patterns = cluster, source, tuple(dlt_patterns)
        self._dlt_cache: dict[str, bool] = {}
        self.slow_rows = 0  # records that took the reference path (for status and the benchmark)

    def constant_columns(self, n: int, tapped_at_us: int) -> dict[str, pa.Array]:
        """The columns every record of a batch shares: cluster, tapped_at, source."""
        return {"cluster": pa.repeat(pa.scalar(self.cluster, pa.string()), n),
                "tapped_at": pa.repeat(pa.scalar(tapped_at_us, pa.int64()), n).cast(TS),
                "source": pa.repeat(pa.scalar(self.source, pa.string()), n)}

    def dlt_topics(self, topic: pa.Array | pa.ChunkedArray) -> list[str]:
        """The batch's topics that the dead-letter patterns name (each topic matched once)."""
        out = []
        for t in pc.unique(topic).to_pylist():
            hit = self._dlt_cache.get(t)
            if hit is None:
                hit = self._dlt_cache[t] = deadletter.matches(t, self.dlt_patterns)
            if hit:
                out.append(t)
        return out

    def with_reference(self, fast: pa.Table, slow_mask: pa.Array | pa.ChunkedArray, batch: Any,
                       tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """The fast path's rows less those it marked slow, plus those through record_row."""
        slow: list[dict[str, Any]] = []
        if pc.any(slow_mask).as_py():  # filter copies every column: only when some rows are slow
            slow = [batch.fields(i) for i in pc.indices_nonzero(slow_mask).to_pylist()]
            fast = fast.filter(pc.invert(slow_mask))
        return self.rows(slow, tapped_at_us, fast)

    def rows(self, slow: list[dict[str, Any]], tapped_at_us: int,
             fast: pa.Table | None = None) -> tuple[pa.Table, list[dict[str, Any]]]:
        """Records through normalize's record_row one by one, after the `fast` rows."""
        fast = RECORD_SCHEMA.empty_table() if fast is None else fast
        self.slow_rows += len(slow)
        rows, errors = [], []
        common = {"cluster": self.cluster, "tapped_at_us": tapped_at_us, "source": self.source,
                  "dlt_patterns": self.dlt_patterns}
        for fields in slow:
            try:
                row = record_row(**common, **fields)
                _check_row(row)
            except Exception as exc:  # noqa: BLE001 (one odd record never stops the tap)
                # keep the record with what can be known: everything but what the value says,
                # and no time Arrow cannot hold
                value = fields["value"]
                row = record_row(**common, **(fields | {"value": None}))
                if value is not None:
                    row.update(value_size=len(value), value_excerpt=value_excerpt(value), value_hash=_blake(value))
                row.update(dict.fromkeys(_out_of_range(row)))
                loc = f"{fields['topic']}/{fields['partition']}/{fields['offset']}"
                errors.append(error_row(self.source, loc, f"record not understood: {exc}", value, tapped_at_us))
            rows.append(row)
        if not rows:
            return fast, errors
        return pa.concat_tables([fast, slow_table(rows)]), errors


class ReferenceNormalizer:
    """The reference path: every record through normalize's record_row (the benchmark's "before")."""

    path = "reference"

    def __init__(self, rows: ReferenceRows) -> None:
        self.rows = rows

    capture = staticmethod(RawBatch.from_messages)
    concat = staticmethod(RawBatch.concat)

    def convert(self, batch: RawBatch, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        return self.reference(batch, tapped_at_us=tapped_at_us)

    def reference(self, batch: Any, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        return self.rows.rows(batch.all_fields(), tapped_at_us)

    def fallback(self) -> None:
        return None  # the Python capture has nothing to fall back to

    def close(self) -> None:
        pass


class BulkNormalizer:
    """The bulk path: Arrow columns and one DuckDB query per batch, the reference for the rest."""

    path = "bulk"

    def __init__(self, rows: ReferenceRows) -> None:
        self.rows = rows
        self._con: duckdb.DuckDBPyConnection | None = None

    capture = staticmethod(RawBatch.from_messages)
    concat = staticmethod(RawBatch.concat)

    def reference(self, batch: RawBatch, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        return self.rows.rows(batch.all_fields(), tapped_at_us)

    def fallback(self) -> None:
        return None  # the Python capture has nothing to fall back to

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect_memory()  # extension auto-install/auto-load off, as on every connection
            con.execute("SET TimeZone = 'UTC'")  # ISO times without offset are UTC, as in normalize
            con.execute("SET threads = 1")  # the normalizer thread's own; the consumer and writer have theirs
            con.execute("SET memory_limit = '512MB'")
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @staticmethod
    def columns(batch: RawBatch) -> pa.Table:
        """The bulk query's input: text decoded in validated casts, headers as normalize's JSON
        text, and the headers normalize reads as columns "h:<name>" (all vectorised)."""
        n = batch.num_rows
        val_arr, names, hbin = batch.values, batch.names, batch.hbin
        vtext = _as_text(val_arr, base64_fallback=False)
        force_slow = pc.and_(pc.is_null(vtext), pc.is_valid(val_arr))
        if pc.any(force_slow).as_py():  # not UTF-8: normalize decides if it is JSON (it may be)
            force_slow = pa.array([v is not None and t is None and v[:1] in _CANDIDATE_START
                                   for v, t in zip(val_arr.to_pylist(), vtext.to_pylist(), strict=True)], pa.bool_())
        htext = _as_text(hbin, base64_fallback=True)
        offsets = batch.offsets
        counts = np.diff(offsets)
        parent = np.repeat(np.arange(n, dtype=np.int32), counts)
        t = batch.table
        cols: dict[str, pa.Array] = {
            "_idx": pa.array(np.arange(n, dtype=np.int32)),
            **{c: t.column(c) for c in ("topic", "partition", "offset", "value_hash", "ts_type", "ts_ms")},
            "key_text": _as_text(batch.keys, base64_fallback=True),
            "vtext": vtext,
            "value_size": pc.fill_null(pc.binary_length(val_arr), -1).cast(pa.int32()),
            "headers": _headers_json(names, htext, offsets, counts),
            "force_slow": force_slow,
        }
        cols.update(_header_columns(names, htext, parent, n))
        return pa.table(cols)

    def convert(self, batch: RawBatch, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """RECORD_SCHEMA table and ingest-error rows for a batch (on the normalizer's thread)."""
        raw = self.columns(batch)
        con = self._connection()
        con.register("raw", raw)
        try:
            computed = con.sql(bulk_sql.SQL, params={"dlt_topics": self.rows.dlt_topics(raw.column("topic"))}
                               ).to_arrow_table()
        finally:
            con.unregister("raw")
        order = computed.column("_idx").to_numpy()
        if not np.array_equal(order, np.arange(len(order))):  # DuckDB keeps the order; never rely on it
            computed = computed.take(pa.array(np.argsort(order)))
        out = self._fix_excerpts(self._assemble(raw, computed, tapped_at_us), batch)
        return self.rows.with_reference(out, computed.column("_slow"), batch, tapped_at_us)

    def _assemble(self, raw: pa.Table, computed: pa.Table, tapped_at_us: int) -> pa.Table:
        """RECORD_SCHEMA rows from the query's columns and the input's, which pass through
        uncopied (values, headers and hashes are most of a batch's bytes)."""
        n = raw.num_rows
        size, vtext = raw.column("value_size"), raw.column("vtext")
        if n and pc.max(size).as_py() > EXCERPT_BYTES:  # values past the bound: normalize's excerpt later
            vtext = pc.if_else(pc.less_equal(size, EXCERPT_BYTES), vtext, pa.scalar(None, pa.string()))
        given = {"topic": raw.column("topic"), "partition": raw.column("partition"), "offset": raw.column("offset"),
                 "key": raw.column("key_text"), "headers": raw.column("headers"), "value_size": size,
                 "value_excerpt": vtext, "value_hash": raw.column("value_hash"),
                 **self.rows.constant_columns(n, tapped_at_us)}
        cols = []
        for field in RECORD_SCHEMA:
            if field.name in given:
                col = given[field.name]
            elif field.name in computed.column_names:
                col = computed.column(field.name)
            else:  # delivery attempts and dead-letter origins: only the reference path reads them
                col = pa.nulls(n, field.type)
            cols.append(col if col.type == field.type else col.cast(field.type))
        return pa.Table.from_arrays(cols, schema=RECORD_SCHEMA)

    @staticmethod
    def _fix_excerpts(rows: pa.Table, batch: RawBatch) -> pa.Table:
        """Values that are not UTF-8 (or cut mid-character) get normalize's excerpt, one by one
        (rows are in the batch's order)."""
        col = rows.column("value_excerpt")
        need = pc.and_(col.is_null(), pc.greater_equal(rows.column("value_size"), 0))
        if not pc.any(need).as_py():
            return rows
        ex = col.to_pylist()
        for j in pc.indices_nonzero(need).to_pylist():
            ex[j] = value_excerpt(batch.values[j].as_py())
        return rows.set_column(rows.schema.get_field_index("value_excerpt"), "value_excerpt", pa.array(ex, pa.string()))


def _may_need_escape(arr: pa.Array) -> bool:
    """Whether any byte of the strings is one json.dumps escapes (quote, backslash, control):
    one numpy pass over the data buffer instead of a regex per string."""
    if len(arr) == 0:
        return False
    bufs = arr.buffers()
    if bufs[2] is None:
        return False
    offs = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)[offs[0]:offs[-1]]
    return bool(np.any((data < 0x20) | (data == 0x22) | (data == 0x5C)))


def _headers_json(names: pa.Array, htext: pa.Array, offsets: np.ndarray, counts: np.ndarray) -> pa.Array:
    """json.dumps([[name, text], ...], ensure_ascii=False) per record, built column-wise."""
    pairs = pc.binary_join_element_wise('["', names, '", "', htext, '"]', "")
    if htext.null_count:  # headers without a value read null
        pairs = pc.if_else(pc.is_null(htext), pc.binary_join_element_wise('["', names, '", null]', ""), pairs)
    if _may_need_escape(names) or _may_need_escape(htext):  # quotes, backslashes, control characters
        unsafe = pc.or_(pc.match_substring_regex(names, _NEEDS_ESCAPE),
                        pc.fill_null(pc.match_substring_regex(htext, _NEEDS_ESCAPE), False))
        if pc.any(unsafe).as_py():  # let json escape those
            fixed = pairs.to_pylist()
            ns, vs = names.to_pylist(), htext.to_pylist()
            for i in pc.indices_nonzero(unsafe).to_pylist():
                fixed[i] = json.dumps([ns[i], vs[i]], ensure_ascii=False)
            pairs = pa.array(fixed, pa.string())
    per_record = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs), ", ")
    doc = pc.binary_join_element_wise("[", per_record, "]", "")
    if counts.all():
        return doc
    return pc.if_else(pa.array(counts > 0), doc, pa.scalar(None, pa.string()))


def _header_columns(names: pa.Array, htext: pa.Array, parent: np.ndarray, n: int) -> dict[str, pa.Array]:
    """The last value of each header normalize reads, as one column per name; and slow_h,
    whether a record carries a header only the reference path decodes."""
    out: dict[str, pa.Array] = {f"h:{h}": pa.nulls(n, pa.string()) for h in bulk_sql.PIVOT_HEADERS}
    slow = np.zeros(n, dtype=bool)
    keep = pc.is_in(names, value_set=_RELEVANT)
    if pc.any(keep).as_py():
        kept = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
        rows, k_names, k_text = parent[kept], names.filter(keep), htext.filter(keep)
        slow[rows[np.asarray(pc.is_in(k_names, value_set=_SLOW).to_numpy(zero_copy_only=False), dtype=bool)]] = True
        for name in pc.unique(k_names).to_pylist():
            if f"h:{name}" not in out:
                continue
            where = np.nonzero(np.asarray(pc.equal(k_names, name).to_numpy(zero_copy_only=False), dtype=bool))[0]
            # rows come in (record, position) order: the last occurrence per record wins
            rev = rows[where][::-1]
            uniq, first = np.unique(rev, return_index=True)
            take = np.full(n, -1, dtype=np.int64)
            take[uniq] = where[::-1][first]
            out[f"h:{name}"] = pc.take(k_text, pa.array(take, mask=take < 0))
    out["slow_h"] = pa.array(slow)
    return out


_TS_MIN, _TS_MAX = -62_135_596_800_000_000, 253_402_300_799_999_999  # years 1..9999 in µs


_TIME_COLUMNS = ("timestamp", "event_time", "dlt_origin_timestamp")


def _out_of_range(row: dict[str, Any]) -> list[str]:
    """The row's timestamps Arrow could not hold (an event time of 1e300, say)."""
    return [name for name in _TIME_COLUMNS if row.get(name) is not None and not _TS_MIN <= row[name] <= _TS_MAX]


def _check_row(row: dict[str, Any]) -> None:
    if bad := _out_of_range(row):
        raise ValueError(f"{bad[0]} out of range")


def _sanitize(row: dict[str, Any]) -> dict[str, Any]:
    """Strings Arrow cannot hold (lone surrogates from JSON escapes) with '?' in their place."""
    return {k: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v for k, v in row.items()}


def slow_table(rows: list[dict[str, Any]]) -> pa.Table:
    """record_row results as a table; a JSON "\\ud800" escape must not sink the batch."""
    try:
        return to_table(rows, RECORD_SCHEMA)
    except (UnicodeEncodeError, pa.ArrowInvalid):
        return to_table([_sanitize(r) for r in rows], RECORD_SCHEMA)
