"""Business identity of a record: which order, customer or cart it is about.

Findings name records by topic, partition and offset; a person asks "which order, which
customer". A record says so in its key, in its envelope's subject (CloudEvents `ce_subject`
or a structured event's `subject`), and in the entity ids of its value (`orderId`,
`customer_id`, ...), at the top level or under the envelope's `data`/`payload`/`body` and
the row images of a change event (`after`, `before`), two levels down at most: a Kafka Connect
JsonConverter value is `{"schema": …, "payload": {…}}`, and a Debezium change event's row is in
`payload.after` (in `after` without Connect's schema). Envelope bookkeeping ids (event,
causation, correlation, message ids) name no business entity and are left out. Read from the
stored excerpt (the value's first KiB): when it is cut there, as a Connect value with its schema
first often is, the ids are read from the text the excerpt holds, name by name.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from collectors.normalize.binary import CONNECT_SCHEMA
from collectors.normalize.header_values import binary_shown, decode_all, stored_bytes

_ID_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(Id|_id|ID)$")
_BOOKKEEPING = frozenset(s.lower() for s in (
    "eventId", "event_id", "messageId", "message_id", "causationId", "causation_id", "correlationId",
    "correlation_id", "traceId", "trace_id", "spanId", "span_id", "requestId", "request_id", "schemaId",
    "schema_id", "txId", "tx_id"))
_NESTED = ("data", "payload", "body", "after", "before")
# an id-like name and its scalar value, in JSON text that may be cut anywhere
_ID_PAIR = re.compile(r'"([A-Za-z][A-Za-z0-9]*(?:Id|_id|ID))"\s*:\s*(?:("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?)[,}\s])')
MAX_IDS = 6


@dataclass(frozen=True)
class Identity:
    key: str | None
    subject: str | None = None
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def shown_key(self) -> str | None:
        """The key as a person reads it: text as it is (a Kafka Connect JSON key as its payload), a
        binary key as ``N bytes (hex) …``, and one of 16 bytes also as the UUID a Java or Avro
        producer writes that way (the Records page finds it by that UUID too, and a Connect key by
        its payload)."""
        if self.key is None:
            return None
        shown = binary_shown(self.key)
        if shown is None:
            return connect_payload(self.key) or self.key
        raw = stored_bytes(self.key) or b""
        as_uuid = uuid.UUID(bytes=raw) if len(raw) == 16 else None
        if as_uuid is not None and as_uuid.version is not None:  # RFC 9562's layout (v1–v8), not any 16 bytes
            shown += f" (as a UUID {as_uuid})"
        return shown

    def describe(self) -> str:
        """'key o-1 · subject o-1 · orderId o-1 · accountId acc-7' (plain text)."""
        parts = []
        if self.key is not None:
            parts.append(f"key {self.shown_key}")
        if self.subject is not None and self.subject != self.key:
            parts.append(f"subject {self.subject}")
        parts += [f"{name} {value}" for name, value in self.ids.items()]
        return " · ".join(parts) or "no key, subject or entity id"


def _scalar(v: Any) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (str, int, float)):
        return str(v)[:200]
    return None


def _ids(doc: dict[str, Any], out: dict[str, str]) -> None:
    for name, v in doc.items():
        if len(out) >= MAX_IDS:
            return
        if isinstance(name, str) and _ID_NAME.match(name) and name.lower() not in _BOOKKEEPING:
            if (s := _scalar(v)) is not None:
                out.setdefault(name, s)


def identity(key: str | None, headers: str | None, value_excerpt: str | None) -> Identity:
    """The record's key, subject and entity ids (first found wins, at most MAX_IDS)."""
    subject = next((h.value for h in decode_all(headers) if h.name in ("ce_subject", "subject") and h.value), None)
    ids: dict[str, str] = {}
    doc: Any = None
    if value_excerpt and value_excerpt[:1] in "{[":
        try:
            doc = json.loads(value_excerpt)
        except ValueError:
            doc = None  # cut by the excerpt's bound, or not JSON: no ids from it
    if isinstance(doc, dict):
        if subject is None:
            subject = _scalar(doc.get("subject"))
        level = [doc]
        for _ in range(3):  # the top level, then two levels of nesting
            for obj in level:
                _ids(obj, ids)
            level = [obj[name] for obj in level for name in _NESTED if isinstance(obj.get(name), dict)]
    elif value_excerpt and value_excerpt[:1] == "{":
        _scan_ids(value_excerpt, ids)
    return Identity(key=key, subject=subject, ids=ids)


def _scan_ids(text: str, out: dict[str, str]) -> None:
    """Entity ids from JSON text that does not parse (cut by the excerpt's bound), in text order."""
    for m in _ID_PAIR.finditer(text):
        if len(out) >= MAX_IDS:
            return
        name, quoted, number = m.groups()
        if name.lower() in _BOOKKEEPING:
            continue
        try:
            value = json.loads(quoted) if quoted is not None else number
        except ValueError:
            continue
        if (s := _scalar(value)) is not None:
            out.setdefault(name, s)


def connect_payload(text: str) -> str | None:
    """A Kafka Connect JSON key or value (``{"schema": …, "payload": …}``) as its payload reads,
    compact, with a note that its schema is left out; None for any other text."""
    if not text.startswith(CONNECT_SCHEMA.decode()):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or set(doc) != {"schema", "payload"}:
        return None
    return json.dumps(doc["payload"], ensure_ascii=False, separators=(",", ":")) + " (Kafka Connect JSON, its schema left out)"
