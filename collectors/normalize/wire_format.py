"""Confluent wire-format values (magic byte 0, 4-byte schema id) decoded to documents.

A value framed this way is Avro, Protobuf (with its message indexes after the id) or JSON
Schema, written against a schema that a schema registry holds under that id. The schemas
come from a :class:`SchemaSource`: the registry (collectors.kafka.registry) or a folder of
schema files for offline import (:class:`FolderSchemas`). A decoded value is a plain
document (dicts, lists, text, numbers) that envelope extraction reads as it reads JSON.

Nothing here raises on a record: :meth:`WireDecoder.decode` answers a :class:`Decoded` or
the reason it could not, and a schema that could not be had is asked for again later, so
decoding resumes by itself when the registry answers again.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from collectors.errors import ConfigError
from collectors.normalize.binary import binary_text
from collectors.normalize.envelope import CONTAINERS

MAGIC = 0
HEADER_BYTES = 5  # magic byte and the big-endian schema id
FORMATS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json-schema"}


def is_wire_format(value: bytes | None) -> bool:
    """Whether a value is framed as the Confluent wire format (a JSON text never starts with NUL).

    A registry numbers its schemas from 1: a value whose id would be 0 is no such frame, but a
    number, as Kafka's LongSerde writes one under 2^24 (eight bytes, the first five zero: a
    Kafka Streams count() topic), which a registry was asked for and said it did not know."""
    return (value is not None and len(value) >= HEADER_BYTES and value[0] == MAGIC
            and value[1:HEADER_BYTES] != _NO_ID)


_NO_ID = bytes(HEADER_BYTES - 1)


def schema_id(value: bytes) -> int:
    return struct.unpack_from(">I", value, 1)[0]


class SchemaUnavailable(Exception):
    """The schema of an id could not be had. ``retry_after``: seconds before asking again."""

    def __init__(self, reason: str, *, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Schema:
    """One schema as the registry holds it: its type, text and (when known) registry version."""

    schema_type: str  # AVRO | PROTOBUF | JSON
    text: str
    version: int | None = None
    references: tuple[Any, ...] = ()


class SchemaSource(Protocol):
    def fetch(self, schema_id: int) -> Schema:
        """The schema of an id, or SchemaUnavailable."""

    def named_schemas(self, schema: Schema) -> dict[str, Any]:
        """Avro named types the schema references (empty when it references none)."""

    def proto_pool(self, schema: Schema) -> Any:
        """A protobuf DescriptorPool holding the schema and what it imports."""


@dataclass(frozen=True)
class Decoded:
    """A decoded value: the document (as the decoder gave it: Avro's bytes, datetimes and
    decimals included), its format and the schema's registry version."""

    doc: Any
    fmt: str
    version: int | None
    schema_id: int


# -- documents ----------------------------------------------------------------------------
_NESTED = (str, int, float, bool, type(None), dict, list)


def json_default(v: Any) -> Any:
    """json.dumps' fallback for what Avro decodes beyond JSON (bytes, times, decimals, UUIDs):
    the C encoder calls it only for those, so a decoded value is never walked in Python."""
    out = plain(v)
    if out is v:
        raise TypeError(f"{type(v).__name__} is not JSON")
    return out


def top_level(doc: Any) -> Any:
    """The document's top-level fields as JSON-able data, and the objects an envelope may nest in
    (envelope.CONTAINERS): all envelope extraction reads."""
    if not isinstance(doc, dict):
        return doc
    # other nested values are never read
    return {k: v if isinstance(v, _NESTED) and k not in CONTAINERS else plain(v) for k, v in doc.items()}


def plain(v: Any) -> Any:
    """A decoded value as JSON-able data (recursively)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return binary_text(bytes(v))
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def _read_varint(buf: io.BytesIO) -> int:
    shift = value = 0
    while True:
        b = buf.read(1)
        if not b:
            raise ValueError("message indexes cut short")
        value |= (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            return (value >> 1) ^ -(value & 1)  # zigzag
        if shift > 63:
            raise ValueError("message index too long")


def message_indexes(buf: io.BytesIO) -> list[int]:
    """Protobuf's message indexes: which message of the schema's file the value is.
    A count of 0 is the shorthand for the first message, [0]."""
    n = _read_varint(buf)
    if n < 0 or n > 100:
        raise ValueError(f"bad message index count {n}")
    return [_read_varint(buf) for _ in range(n)] if n else [0]


# -- decoders per schema ------------------------------------------------------------------
def _avro_reader(schema: Schema, source: SchemaSource) -> Callable[[io.BytesIO, list[int]], Any]:
    import fastavro

    named = source.named_schemas(schema)
    parsed = fastavro.parse_schema(json.loads(schema.text), named_schemas=dict(named)) if named else \
        fastavro.parse_schema(json.loads(schema.text))
    return lambda buf, _idx: fastavro.schemaless_reader(buf, parsed, None)


def _json_reader(schema: Schema, source: SchemaSource) -> Callable[[io.BytesIO, list[int]], Any]:
    del schema, source  # the value is JSON text: the schema only validates, which auditing does not need
    return lambda buf, _idx: json.loads(buf.read())


def _proto_reader(schema: Schema, source: SchemaSource) -> Callable[[io.BytesIO, list[int]], Any]:
    from google.protobuf import json_format, message_factory

    pool = source.proto_pool(schema)
    fd = pool.FindFileByName("default")

    def read(buf: io.BytesIO, idx: list[int]) -> Any:
        desc = list(fd.message_types_by_name.values())[idx[0]]
        for i in idx[1:]:
            desc = desc.nested_types[i]
        msg = message_factory.GetMessageClass(desc)()
        msg.ParseFromString(buf.read())
        # proto field names as written in the schema, so envelope names (event_id, ...) match
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)

    return read


_READERS = {"AVRO": _avro_reader, "JSON": _json_reader, "PROTOBUF": _proto_reader}


class WireDecoder:
    """Decodes wire-format values, caching each schema's reader by id (ids never change).

    A schema that cannot be had is asked for again only after the source's ``retry_after``,
    so a registry that is down costs one failed request per interval, not one per record."""

    def __init__(self, source: SchemaSource, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self._clock = clock
        self._readers: dict[int, tuple[Callable[[io.BytesIO, list[int]], Any], str, int | None]] = {}
        self._failed: dict[int, tuple[float, str]] = {}  # id -> (ask again after, reason)
        self.decoded = 0

    def _reader(self, sid: int) -> tuple[Callable[[io.BytesIO, list[int]], Any], str, int | None]:
        got = self._readers.get(sid)
        if got is not None:
            return got
        failed = self._failed.get(sid)
        if failed is not None and self._clock() < failed[0]:
            raise SchemaUnavailable(failed[1], retry_after=failed[0] - self._clock())
        try:
            schema = self.source.fetch(sid)
            make = _READERS.get(schema.schema_type)
            if make is None:
                raise SchemaUnavailable(f"schema {sid} is of type {schema.schema_type}, not Avro, Protobuf "
                                        f"or JSON Schema", retry_after=3600.0)
            try:
                reader = make(schema, self.source)
            except SchemaUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 (a schema the libraries cannot read)
                raise SchemaUnavailable(f"schema {sid} cannot be read: {exc}", retry_after=3600.0) from None
        except SchemaUnavailable as exc:
            self._failed[sid] = (self._clock() + exc.retry_after, str(exc))
            raise
        got = (reader, FORMATS[schema.schema_type], schema.version)
        self._readers[sid] = got
        self._failed.pop(sid, None)
        return got

    def decode(self, value: bytes) -> Decoded | str:
        """The decoded value, or why it could not be decoded (one line)."""
        if not is_wire_format(value):
            return "not in the schema-registry wire format"
        sid = schema_id(value)
        try:
            reader, fmt, version = self._reader(sid)
        except SchemaUnavailable as exc:
            return str(exc)
        buf = io.BytesIO(value)
        buf.seek(HEADER_BYTES)
        try:
            idx = message_indexes(buf) if fmt == "protobuf" else []
            doc = reader(buf, idx)  # as decoded: top_level() and json_default() read it
        except Exception as exc:  # noqa: BLE001 (a value that does not match its schema)
            return f"value does not match schema {sid} ({fmt}): {exc}"
        self.decoded += 1
        return Decoded(doc, fmt, version, sid)


# -- a folder of schemas (offline import) -------------------------------------------------
_SUFFIX_TYPES = {".avsc": "AVRO", ".pb": "PROTOBUF", ".json": "JSON"}  # no .proto text: nothing here parses it


class FolderSchemas:
    """Schemas from files named by schema id: ``42.avsc`` (Avro), ``42.json`` (JSON Schema),
    ``42.pb`` (a serialized FileDescriptorProto, binary or base64, as the registry answers
    with ``format=serialized``). A ``42.json`` that holds the registry's own
    answer to ``GET /schemas/ids/42`` (``schema``, ``schemaType``, optionally ``version``)
    is read as that, which also gives the event version."""

    MISSING_RETRY_S = 30.0  # as for an id a registry does not know: a file may be added while collecting

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ConfigError(f"--schemas: {self.folder} is not a folder")
        self._files: dict[int, Path] = {}
        self._list()

    def _list(self) -> None:
        files: dict[int, Path] = {}
        try:
            for p in sorted(self.folder.iterdir()):
                if p.suffix in _SUFFIX_TYPES and p.stem.isdigit():
                    files.setdefault(int(p.stem), p)
        except OSError:
            return  # the folder went away: keep what was listed
        self._files = files

    def fetch(self, sid: int) -> Schema:
        p = self._files.get(sid)
        if p is None:
            self._list()  # once per retry interval per id (WireDecoder), never per record
            p = self._files.get(sid)
        if p is None:
            raise SchemaUnavailable(f"schema {sid} not found in {self.folder.name}/",
                                    retry_after=self.MISSING_RETRY_S)
        try:
            return self._read(p)
        except (OSError, UnicodeDecodeError) as exc:  # removed or half-written since listed: try again later
            raise SchemaUnavailable(f"{p.name} cannot be read: {exc}", retry_after=self.MISSING_RETRY_S) from None

    @staticmethod
    def _read(p: Path) -> Schema:
        if p.suffix == ".pb":
            raw = p.read_bytes()
            try:
                text = base64.standard_b64encode(base64.b64decode(raw, validate=True)).decode("ascii")
            except ValueError:
                text = base64.standard_b64encode(raw).decode("ascii")
            return Schema("PROTOBUF", text)
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".json":
            try:
                doc = json.loads(text)
            except ValueError:
                raise SchemaUnavailable(f"{p.name} is not JSON", retry_after=3600.0) from None
            if isinstance(doc, dict) and isinstance(doc.get("schema"), str):
                version = doc.get("version")
                return Schema(doc.get("schemaType") or "AVRO", doc["schema"],
                              version if isinstance(version, int) else None)
        return Schema(_SUFFIX_TYPES[p.suffix], text)

    def named_schemas(self, schema: Schema) -> dict[str, Any]:
        del schema
        return {}

    def proto_pool(self, schema: Schema) -> Any:
        return proto_pool(schema.text, lambda pool: None)


def proto_pool(text: str, add_imports: Callable[[Any], None]) -> Any:
    """A DescriptorPool with the well-known types, the schema's imports and the schema as "default"."""
    from confluent_kafka.schema_registry.common.protobuf import _init_pool, _str_to_proto
    from google.protobuf.descriptor_pool import DescriptorPool

    pool = DescriptorPool()
    _init_pool(pool)
    add_imports(pool)
    pool.Add(_str_to_proto("default", text))
    return pool
