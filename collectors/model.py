"""Row types of the store, as Arrow schemas.

Normalize produces rows (plain dicts keyed by these column names, timestamps as
integer microseconds since the Unix epoch, UTC); :func:`to_table` turns a list of
rows into an Arrow table column by column, which is what the store ingests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from collectors.normalize import binary

TS = pa.timestamp("us")

# OTLP SpanKind enum values, kept as integers in the store.
KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)
KIND_NAMES = {
    KIND_UNSPECIFIED: "UNSPECIFIED",
    KIND_INTERNAL: "INTERNAL",
    KIND_SERVER: "SERVER",
    KIND_CLIENT: "CLIENT",
    KIND_PRODUCER: "PRODUCER",
    KIND_CONSUMER: "CONSUMER",
}
# OTLP span flags: bit 8 says whether the remote-parent bit (bit 9) is known.
FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200

LINK_TYPE = pa.struct(
    [("trace_id", pa.string()), ("span_id", pa.string()), ("attributes", pa.string())]
)

SPAN_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("service", pa.string()),
        ("service_instance", pa.string()),
        ("scope", pa.string()),
        ("name", pa.string()),
        ("kind", pa.int8()),
        ("flags", pa.int32()),
        ("start_time", TS),
        ("end_time", TS),
        ("duration_us", pa.int64()),
        ("status_code", pa.int8()),
        ("status_message", pa.string()),
        ("attributes", pa.string()),  # JSON object of every span attribute
        ("resource", pa.string()),  # JSON object of the resource attributes
        ("events", pa.string()),  # JSON list of {name, time_us, attributes}
        ("links", pa.list_(LINK_TYPE)),
        # promoted columns (both messaging semconv generations fold into these)
        ("messaging_system", pa.string()),
        ("destination", pa.string()),
        ("operation_type", pa.string()),  # send | receive | process | settle | create
        ("consumer_group", pa.string()),
        ("message_id", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("client_id", pa.string()),
        ("http_route", pa.string()),
        ("http_method", pa.string()),
        ("http_status", pa.int32()),
        ("db_system", pa.string()),
        ("db_operation", pa.string()),
        ("peer_service", pa.string()),
        ("source", pa.string()),  # where the row came from: otlp-http, otlp-grpc, file:...
    ]
)

RECORD_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("key", pa.string()),  # UTF-8 text, or "base64:<...>" for binary keys; NULL for none
        ("timestamp", TS),
        ("timestamp_type", pa.string()),  # create | log_append | unknown
        ("headers", pa.string()),  # JSON list of [name, text] ("base64:<...>" when binary)
        ("value_size", pa.int32()),  # -1 for a null value (tombstone)
        ("value_excerpt", pa.string()),  # first bytes of the value as text, bounded
        ("value_hash", pa.string()),  # blake2b-64 hex of the value bytes
        ("trace_id", pa.string()),  # from the traceparent header
        ("parent_span_id", pa.string()),
        ("envelope", pa.string()),  # cloudevents-binary | cloudevents-structured | json | none
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_version", pa.string()),
        ("event_time", TS),
        ("event_source", pa.string()),
        ("causation_id", pa.string()),
        ("correlation_id", pa.string()),
        ("delivery_attempt", pa.int32()),
        ("is_dead_letter", pa.bool_()),
        ("dlt_family", pa.string()),  # spring-dlt | spring-retry | spring-cloud-stream | connect | topic-pattern
        ("dlt_origin_topic", pa.string()),
        ("dlt_origin_partition", pa.int32()),
        ("dlt_origin_offset", pa.int64()),
        ("dlt_origin_group", pa.string()),
        ("dlt_origin_timestamp", TS),
        ("dlt_exception_class", pa.string()),
        ("dlt_exception_message", pa.string()),
        ("tapped_at", TS),
        ("source", pa.string()),
    ]
)

GROUP_OFFSET_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("group_id", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("committed_offset", pa.int64()),  # NULL when the group never committed
        ("high_watermark", pa.int64()),
        ("state", pa.string()),
        ("members", pa.int32()),
        ("client_id", pa.string()),
        ("polled_at", TS),
    ]
)

TOPIC_OFFSET_SCHEMA = pa.schema(
    [
        ("cluster", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("low_watermark", pa.int64()),
        ("high_watermark", pa.int64()),
        ("observed_at", TS),
    ]
)

INGEST_ERROR_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("location", pa.string()),  # file:line, topic/partition/offset, request id
        ("reason", pa.string()),
        ("raw_excerpt", pa.string()),
        ("at", TS),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "spans": SPAN_SCHEMA,
    "records": RECORD_SCHEMA,
    "group_offsets": GROUP_OFFSET_SCHEMA,
    "topic_offsets": TOPIC_OFFSET_SCHEMA,
    "ingest_errors": INGEST_ERROR_SCHEMA,
}

EXCERPT_BYTES = binary.EXCERPT_BYTES


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build an Arrow table from row dicts, one column at a time (missing keys are NULL)."""
    rows = rows if isinstance(rows, list) else list(rows)
    columns = [pa.array([r.get(name) for r in rows], type=schema.field(name).type) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def to_table_or_reject(rows: list[dict[str, Any]], schema: pa.Schema,
                       reject: Callable[[dict[str, Any], Exception], None]) -> pa.Table:
    """to_table, except that a row Arrow refuses goes to ``reject(row, exc)`` instead of sinking the
    whole batch (the rows are built again one by one only when the batch as a whole fails)."""
    try:
        return to_table(rows, schema)
    except (ValueError, TypeError, OverflowError):  # pyarrow's ArrowInvalid/ArrowTypeError subclass these
        pass
    good = []
    for row in rows:
        try:
            to_table([row], schema)
        except (ValueError, TypeError, OverflowError) as exc:
            reject(row, exc)
        else:
            good.append(row)
    return to_table(good, schema)


def table_from_tuples(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Build an Arrow table from rows given as tuples in the schema's column order.

    The batch is transposed once by zip() (C speed), rather than a pass over every row dict per column.
    """
    if not rows:
        return schema.empty_table()
    columns = [pa.array(col, type=field.type) for col, field in zip(zip(*rows, strict=True), schema, strict=True)]
    return pa.Table.from_arrays(columns, schema=schema)


def error_row(source: str, location: str, reason: str, raw: bytes | str | None, at_us: int) -> dict[str, Any]:
    """An ingest-error row with a bounded excerpt of what could not be parsed."""
    if isinstance(raw, bytes):
        raw = raw[:EXCERPT_BYTES].decode("utf-8", "replace")
    elif raw is not None:
        raw = _text(raw[:EXCERPT_BYTES])
    return {"source": source, "location": location, "reason": _text(reason), "raw_excerpt": raw, "at": at_us}


def _text(value: str) -> str:
    """``value`` as storable text: a lone surrogate (from a JSON escape) becomes "?"."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


_INT_BOUNDS = {
    pa.int8(): (-(2**7), 2**7 - 1), pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1), pa.int64(): (-(2**63), 2**63 - 1), TS: (-(2**63), 2**63 - 1),
}
_INT, _STR, _LIST, _OTHER = range(4)
_PLANS: dict[int, tuple[pa.Schema, list[tuple[str, int, int, int]]]] = {}


def _plan(schema: pa.Schema) -> list[tuple[str, int, int, int]]:
    """Per column (name, kind, low, high), worked out once per schema: comparing Arrow types costs."""
    cached = _PLANS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    plan = []
    for f in schema:
        bounds = _INT_BOUNDS.get(f.type)
        if bounds is not None:
            plan.append((f.name, _INT, *bounds))
        elif pa.types.is_string(f.type):
            plan.append((f.name, _STR, 0, 0))
        else:
            plan.append((f.name, _LIST if pa.types.is_list(f.type) else _OTHER, 0, 0))
    _PLANS[id(schema)] = (schema, plan)
    return plan


def misfit(row: Mapping[str, Any], schema: pa.Schema) -> str | None:
    """Why a row cannot be stored in ``schema`` (a column it does not fit), or None.

    Arrow refuses a whole batch for one such value; callers check a row before it joins one,
    so the row alone is rejected with this reason.
    """
    for name, kind, low, high in _plan(schema):
        value = row.get(name)
        if value is None:
            continue
        if kind == _STR:
            if type(value) is not str:
                return f"'{name}' must be text, not {type(value).__name__}"
            if not value.isascii() and bad_text(value):
                return f"'{name}' {bad_text(value)}"
        elif kind == _INT:
            if type(value) is not int:
                return f"'{name}' must be an integer, not {value!r:.40}"
            if not low <= value <= high:
                return f"'{name}' {value} does not fit a {high.bit_length() + 1}-bit integer column"
        elif kind == _LIST:
            for item in value:
                for v in item.values() if isinstance(item, Mapping) else (item,):
                    if isinstance(v, str) and bad_text(v):
                        return f"'{name}' {bad_text(v)}"
    return None


def bad_text(value: str) -> str | None:
    """Why a str cannot be stored as UTF-8 text (a lone surrogate from a JSON escape), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate (\\u{ord(value[exc.start]):04x}), which is not Unicode text"
    return None
