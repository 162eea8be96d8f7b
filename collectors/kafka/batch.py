"""Consumed messages → record rows in bulk, with normalize's semantics.

Per-message Python work is what limits the tap (DESIGN §9), so a batch is turned into Arrow
columns with a handful of C-level passes, and the envelope, trace context and header lookups
run as one vectorised DuckDB query over the whole batch. That query only claims the
records whose outcome it can reproduce exactly (canonical traceparent, JSON objects that
Python's json module reads the same way, ISO or epoch event times, no CloudEvents or
dead-letter headers, ...); every other record is marked and goes through
:func:`collectors.normalize.records.record_row`, the reference, one by one. A parity test
(tests/kafka/test_batch_parity.py) holds the two together on tricky inputs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collectors.model import EXCERPT_BYTES, RECORD_SCHEMA, error_row, to_table
from collectors.normalize import deadletter, envelope
from collectors.normalize.binary import excerpt
from collectors.normalize.records import record_row

log = logging.getLogger(__name__)

HEADER_TYPE = pa.list_(pa.struct([("n", pa.string()), ("v", pa.binary())]))
RAW_SCHEMA = pa.schema([
    ("_idx", pa.int32()), ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
    ("key", pa.binary()), ("value", pa.binary()), ("headers", HEADER_TYPE),
    ("ts_type", pa.int8()), ("ts_ms", pa.int64()), ("value_hash", pa.string()),
])

# Headers whose presence sends a record to the reference path (CloudEvents binary mode,
# delivery attempts, dead-letter families): rare, and their decoding lives in normalize.
SLOW_HEADERS = ("ce_id", "ce_type", "kafka_deliveryAttempt", "delivery_attempt", "retry_topic-attempts",
                "x-delivery-attempt", "kafka_dlt-original-topic", "kafka_original-topic", "x-original-topic",
                "__connect.errors.topic")
# Header names that fill envelope columns when the value does not (envelope._HEADER_FIELDS).
HEADER_FIELDS: dict[str, tuple[str, ...]] = dict(envelope._HEADER_FIELDS)  # noqa: SLF001 (same package family)
VALUE_FIELDS: dict[str, tuple[str, ...]] = dict(envelope.DEFAULT_FIELDS)
STRING_COLUMNS = ("event_id", "event_type", "event_version", "event_source", "causation_id", "correlation_id")


def _q(text: str) -> str:
    """A SQL string literal (names below are constants of this module, never input)."""
    return "'" + text.replace("'", "''") + "'"


def _json_path(name: str) -> str:
    return '$."' + name.replace('"', '\\"') + '"'


def _build_sql() -> str:
    relevant = sorted({"traceparent", "content-type", *SLOW_HEADERS, *(n for ns in HEADER_FIELDS.values() for n in ns)})
    paths: list[str] = []
    slices: dict[str, tuple[int, int]] = {}
    for column, names in VALUE_FIELDS.items():
        slices[column] = (len(paths) + 1, len(paths) + len(names))
        paths.extend(_json_path(n) for n in names)

    def hlast(name: str) -> str:
        return f"list_filter(rh, lambda x: x.n = {_q(name)})[-1].v"

    chosen = {c: f"list_filter(jvals[{a}:{b}], lambda x: x IS NOT NULL AND json_type(x) <> 'NULL')[1]"
              for c, (a, b) in slices.items()}
    str_cols = []
    type_checks = []
    for c in STRING_COLUMNS:
        str_cols.append(
            f"CASE json_type({c}_j) WHEN 'VARCHAR' THEN {c}_j ->> '$' "
            f"WHEN 'BIGINT' THEN CAST(CAST({c}_j AS BIGINT) AS VARCHAR) "
            f"WHEN 'UBIGINT' THEN CAST(CAST({c}_j AS UBIGINT) AS VARCHAR) END AS {c}_v"
        )
        type_checks.append(f"coalesce(json_type({c}_j), 'VARCHAR') NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT')")
    iso = (r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
           r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")
    time_slow = (
        "CASE json_type(event_time_j) WHEN 'VARCHAR' THEN NOT regexp_full_match(event_time_j ->> '$', "
        f"{_q(iso)}) WHEN 'BIGINT' THEN CAST(event_time_j AS DOUBLE) < 0 "
        "WHEN 'UBIGINT' THEN CAST(event_time_j AS DOUBLE) >= 1e18 "
        "WHEN 'DOUBLE' THEN NOT isfinite(CAST(event_time_j AS DOUBLE)) OR CAST(event_time_j AS DOUBLE) < 0 "
        "OR CAST(event_time_j AS DOUBLE) >= 1e18 WHEN 'BOOLEAN' THEN false ELSE event_time_j IS NOT NULL END"
    )
    # parse_time's float arithmetic, step by step, so the microsecond comes out the same
    time_val = (
        "CASE json_type(event_time_j) WHEN 'VARCHAR' THEN CAST(trunc((epoch_us(TRY_CAST(event_time_j ->> '$' "
        "AS TIMESTAMPTZ))::DOUBLE / 1000000.0) * 1000000.0) AS BIGINT) "
        "WHEN 'BOOLEAN' THEN NULL ELSE CAST(CASE WHEN NOT isfinite(d) OR d < 0 OR d >= 1e18 THEN NULL WHEN d > 1e17 THEN trunc(d / 1000) WHEN d > 1e14 "
        "THEN trunc(d) WHEN d > 1e11 THEN trunc(d * 1000) ELSE trunc(d * 1000000) END AS BIGINT) END"
    )
    fills = {}
    for c in STRING_COLUMNS:
        names = HEADER_FIELDS.get(c, ())
        fills[c] = f"coalesce({c}_v, {', '.join(hlast(n) for n in names)})" if names else f"{c}_v"
    header_text = "CASE WHEN x.v IS NULL THEN NULL ELSE coalesce(try(decode(x.v)), 'base64:' || to_base64(x.v)) END"
    candidate = (f"value IS NOT NULL AND octet_length(value) BETWEEN 1 AND {envelope.MAX_JSON_BYTES} "
                 "AND value[1:1] IN ('\\x7B'::BLOB, '\\x20'::BLOB, '\\x0A'::BLOB, '\\x09'::BLOB)")
    tp_re = r"^[0-9a-fA-F]{2}-[0-9a-fA-F]{32}-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}$"
    # every identifier and literal below is a constant of this module, never input
    return f"""
WITH base AS (
  SELECT _idx, topic, "partition", "offset", key, value, ts_type, ts_ms, value_hash,
         list_transform(headers, lambda x: {{'n': x.n, 'v': {header_text}}}) AS h
  FROM raw
), hx AS (
  SELECT *, list_filter(h, lambda x: x.n IN ({', '.join(_q(n) for n in relevant)})) AS rh,
         ({candidate}) AS candidate
  FROM base
), js AS (
  SELECT *, CASE WHEN candidate THEN try(decode(value)) END AS js_text FROM hx
), jv AS (
  SELECT *, CASE WHEN js_text IS NULL THEN false WHEN json_valid(js_text)
                 THEN json_type(js_text) = 'OBJECT' ELSE false END AS doc_ok,
         CASE WHEN js_text IS NOT NULL AND json_valid(js_text) THEN false ELSE candidate END AS json_unsure,
         {hlast('traceparent')} AS tp, lower({hlast('content-type')}) AS ct
  FROM js
), fields AS (
  SELECT *, CASE WHEN doc_ok THEN json_extract(js_text, [{', '.join(_q(p) for p in paths)}]) END AS jvals
  FROM jv
), picked AS (
  SELECT *, {', '.join(f'{e} AS {c}_j' for c, e in chosen.items())} FROM fields
), typed AS (
  SELECT *, {', '.join(str_cols)},
         CASE WHEN json_type(event_time_j) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
              THEN CAST(event_time_j AS DOUBLE) END AS d
  FROM picked
)
SELECT _idx,
  coalesce(coalesce(len(list_filter(rh, lambda x: x.n IN ({', '.join(_q(n) for n in SLOW_HEADERS)}))), 0) > 0
   OR coalesce(starts_with(ct, 'application/cloudevents'), false)
   OR (tp IS NOT NULL AND tp <> '' AND NOT regexp_full_match(tp, {_q(tp_re)}))
   OR json_unsure
   OR (CASE WHEN doc_ok THEN (regexp_matches(js_text, ',\\s*[\\]}}]')
                   OR regexp_matches(js_text, '[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]')
                   OR len(json_keys(js_text)) <> len(list_distinct(json_keys(js_text)))
                   OR {' OR '.join(type_checks)}
                   OR {time_slow}) ELSE false END)
  , true) AS _slow,  -- unknown goes to the reference path
  $cluster AS cluster, topic, "partition", "offset",
  CASE WHEN key IS NULL THEN NULL ELSE coalesce(try(decode(key)), 'base64:' || to_base64(key)) END AS "key",
  CASE WHEN ts_ms >= 0 THEN make_timestamp(ts_ms * 1000) END AS "timestamp",
  CASE ts_type WHEN 1 THEN 'create' WHEN 2 THEN 'log_append' ELSE 'unknown' END AS timestamp_type,
  CASE WHEN len(h) > 0 THEN CAST(to_json(list_transform(h, lambda x: [x.n, x.v])) AS VARCHAR) END AS headers,
  CASE WHEN value IS NULL THEN -1 ELSE octet_length(value) END AS value_size,
  CASE WHEN value IS NOT NULL THEN try(decode(value[1:{EXCERPT_BYTES}])) END AS value_excerpt,
  value_hash,
  CASE WHEN tp IS NOT NULL AND regexp_full_match(tp, {_q(tp_re)})
            AND lower(tp[4:35]) <> repeat('0', 32) AND lower(tp[37:52]) <> repeat('0', 16)
       THEN lower(tp[4:35]) END AS trace_id,
  CASE WHEN tp IS NOT NULL AND regexp_full_match(tp, {_q(tp_re)})
            AND lower(tp[4:35]) <> repeat('0', 32) AND lower(tp[37:52]) <> repeat('0', 16)
       THEN lower(tp[37:52]) END AS parent_span_id,
  CASE WHEN doc_ok AND (event_id_v IS NOT NULL OR event_type_v IS NOT NULL) THEN 'json' ELSE 'none' END AS envelope,
  {fills['event_id']} AS event_id,
  {fills['event_type']} AS event_type,
  {fills['event_version']} AS event_version,
  CASE WHEN event_time_j IS NULL THEN NULL ELSE make_timestamp({time_val}) END AS event_time,
  {fills['event_source']} AS event_source,
  {fills['causation_id']} AS causation_id,
  {fills['correlation_id']} AS correlation_id,
  CAST(NULL AS INTEGER) AS delivery_attempt,
  list_contains($dlt_topics, topic) AS is_dead_letter,
  CASE WHEN list_contains($dlt_topics, topic) THEN 'topic-pattern' END AS dlt_family,
  CAST(NULL AS VARCHAR) AS dlt_origin_topic, CAST(NULL AS INTEGER) AS dlt_origin_partition,
  CAST(NULL AS BIGINT) AS dlt_origin_offset, CAST(NULL AS VARCHAR) AS dlt_origin_group,
  CAST(NULL AS TIMESTAMP) AS dlt_origin_timestamp, CAST(NULL AS VARCHAR) AS dlt_exception_class,
  CAST(NULL AS VARCHAR) AS dlt_exception_message,
  make_timestamp($tapped_at) AS tapped_at, $source AS source
FROM typed
"""  # noqa: S608


def _blake(v: bytes | None) -> str | None:
    return None if v is None else hashlib.blake2b(v, digest_size=8).hexdigest()


class BatchConverter:
    """Turns lists of confluent-kafka messages into RECORD_SCHEMA tables (one per thread)."""

    def __init__(self, *, cluster: str, source: str = "kafka",
                 dlt_patterns: Sequence[str] = deadletter.DEFAULT_PATTERNS) -> None:
        self.cluster, self.source, self.dlt_patterns = cluster, source, tuple(dlt_patterns)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._dlt_cache: dict[str, bool] = {}
        self.slow_rows = 0  # records that took the reference path (for status and the benchmark)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = duckdb.connect()
            con.execute("SET TimeZone = 'UTC'")  # ISO times without offset are UTC, as in normalize
            con.execute("SET threads = 1")  # the tap thread is one core; DuckDB threads would contend
            self._con = con
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def raw_table(self, msgs: Sequence[Any]) -> pa.Table:
        """The batch as Arrow columns: one C-level pass per field, no per-message dicts."""
        from confluent_kafka import Message

        values = list(map(Message.value, msgs))
        ts = list(map(Message.timestamp, msgs))
        ts_type, ts_ms = zip(*ts, strict=True) if ts else ((), ())
        cols = [
            pa.array(range(len(msgs)), pa.int32()),
            pa.array(list(map(Message.topic, msgs)), pa.string()),
            pa.array(list(map(Message.partition, msgs)), pa.int32()),
            pa.array(list(map(Message.offset, msgs)), pa.int64()),
            pa.array(list(map(Message.key, msgs)), pa.binary()),
            pa.array(values, pa.binary()),
            pa.array(list(map(Message.headers, msgs)), HEADER_TYPE),
            pa.array(ts_type, pa.int8()),
            pa.array(ts_ms, pa.int64()),
            pa.array(list(map(_blake, values)), pa.string()),
        ]
        return pa.Table.from_arrays(cols, schema=RAW_SCHEMA)

    def convert(self, msgs: Sequence[Any], *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """RECORD_SCHEMA table for the batch, and ingest-error rows for records that could not be read."""
        if not msgs:
            return RECORD_SCHEMA.empty_table(), []
        raw = self.raw_table(msgs)
        return self.convert_raw(raw, msgs, tapped_at_us=tapped_at_us)

    def convert_raw(self, raw: pa.Table, msgs: Sequence[Any] | None, *,
                    tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        topics = pc.unique(raw.column("topic")).to_pylist()
        dlt_topics = [t for t in topics if self._is_dlt(t)]
        con = self._connection()
        con.register("raw", raw)
        try:
            out = con.sql(_SQL, params={"cluster": self.cluster, "dlt_topics": dlt_topics,
                                     "tapped_at": tapped_at_us, "source": self.source}).to_arrow_table()
        finally:
            con.unregister("raw")
        slow_mask = out.column("_slow")
        fast = self._fix_excerpts(out.filter(pc.invert(slow_mask)), raw)
        slow_idx = out.filter(slow_mask).column("_idx").to_pylist()
        fast = fast.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
        self.slow_rows += len(slow_idx)
        rows, errors = [], []
        for i in slow_idx:
            fields = _raw_fields(raw, i)
            common = {"cluster": self.cluster, "tapped_at_us": tapped_at_us, "source": self.source,
                      "dlt_patterns": self.dlt_patterns}
            try:
                rows.append(record_row(**common, **fields))
            except Exception as exc:  # noqa: BLE001 (one odd record never stops the tap)
                # keep the record with what can be known: everything but what the value says
                value = fields["value"]
                row = record_row(**common, **(fields | {"value": None}))
                row.update(value_size=len(value), value_excerpt=excerpt(value), value_hash=_blake(value))
                rows.append(row)
                loc = f"{fields['topic']}/{fields['partition']}/{fields['offset']}"
                errors.append(error_row(self.source, loc, f"value not understood: {exc}", value, tapped_at_us))
        if not rows:
            return fast, errors
        return pa.concat_tables([fast, slow_table(rows)]), errors

    def _is_dlt(self, topic: str) -> bool:
        hit = self._dlt_cache.get(topic)
        if hit is None:
            hit = self._dlt_cache[topic] = deadletter.matches(topic, self.dlt_patterns)
        return hit

    @staticmethod
    def _fix_excerpts(fast: pa.Table, raw: pa.Table) -> pa.Table:
        """Values that are not UTF-8 (or cut mid-character) get normalize's excerpt, one by one."""
        col = fast.column("value_excerpt")
        need = pc.and_(col.is_null(), pc.greater_equal(fast.column("value_size"), 0))
        if not pc.any(need).as_py():
            return fast
        ex = col.to_pylist()
        idx = fast.column("_idx").to_pylist()
        values = raw.column("value")
        for j in pc.indices_nonzero(need).to_pylist():
            ex[j] = excerpt(values[idx[j]].as_py())
        return fast.set_column(fast.schema.get_field_index("value_excerpt"), "value_excerpt", pa.array(ex, pa.string()))


def _sanitize(row: dict[str, Any]) -> dict[str, Any]:
    """Strings Arrow cannot hold (lone surrogates from JSON escapes) with '?' in their place."""
    return {k: v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v for k, v in row.items()}


def slow_table(rows: list[dict[str, Any]]) -> pa.Table:
    """record_row results as a table; a JSON "\\ud800" escape must not sink the batch."""
    try:
        return to_table(rows, RECORD_SCHEMA)
    except (UnicodeEncodeError, pa.ArrowInvalid):
        return to_table([_sanitize(r) for r in rows], RECORD_SCHEMA)


def _raw_fields(raw: pa.Table, i: int) -> dict[str, Any]:
    row = raw.slice(i, 1).to_pylist()[0]
    return {
        "topic": row["topic"], "partition": row["partition"], "offset": row["offset"], "key": row["key"],
        "value": row["value"], "headers": [(h["n"], h["v"]) for h in row["headers"]] if row["headers"] else None,
        "timestamp_ms": row["ts_ms"], "timestamp_type": row["ts_type"],
    }


_SQL = _build_sql()
