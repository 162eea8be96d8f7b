"""Promote OpenTelemetry semantic-convention attributes into store columns.

Both generations of the messaging conventions fold into one set of columns
(DESIGN §6): old names are accepted wherever the new ones are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# column -> attribute names, newest first; the first present wins.
_PROMOTED: dict[str, tuple[str, ...]] = {
    "messaging_system": ("messaging.system",),
    "destination": ("messaging.destination.name", "messaging.destination"),
    "operation_type": ("messaging.operation.type", "messaging.operation"),
    "consumer_group": (
        "messaging.consumer.group.name",
        "messaging.kafka.consumer.group",
        "messaging.kafka.consumer_group",
    ),
    "message_id": ("messaging.message.id",),
    "partition": (
        "messaging.destination.partition.id",
        "messaging.kafka.destination.partition",
        "messaging.kafka.partition",
    ),
    "offset": ("messaging.kafka.offset", "messaging.kafka.message.offset"),
    "client_id": ("messaging.client.id", "messaging.client_id"),
    "http_route": ("http.route",),
    "http_method": ("http.request.method", "http.method"),
    "http_status": ("http.response.status_code", "http.status_code"),
    "db_system": ("db.system.name", "db.system"),
    "db_operation": ("db.operation.name", "db.operation"),
    "peer_service": ("peer.service", "server.address", "net.peer.name"),
}
_INTS = frozenset({"partition", "offset", "http_status"})
_INT_LIMITS = {"partition": 2**31, "offset": 2**63, "http_status": 2**31}
# Old operation names that the new conventions renamed.
_OPERATIONS = {"publish": "send", "deliver": "process"}


# attribute name -> (column, rank); rank 0 is the newest name. Lets promote() walk a span's
# few attributes once instead of probing every known name (the OTLP receiver's hot path).
_INDEX: dict[str, tuple[str, int]] = {
    name: (column, rank) for column, names in _PROMOTED.items() for rank, name in enumerate(names)
}
_EMPTY: dict[str, Any] = dict.fromkeys(_PROMOTED)


def promote(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the promoted columns found in a span's attributes (absent ones are None)."""
    out = _EMPTY.copy()
    found: dict[str, tuple[int, Any]] = {}
    index = _INDEX
    for name in attrs:
        hit = index.get(name)
        if hit is not None:
            column, rank = hit
            seen = found.get(column)
            if seen is None or rank < seen[0]:
                found[column] = (rank, attrs[name])
    for column, (_, value) in found.items():
        if value is not None and column in _INTS:
            try:
                value = int(value)
            except (TypeError, ValueError):
                value = None
            else:
                # out of the column's range: an Arrow batch would refuse the whole row set
                if not -_INT_LIMITS[column] <= value < _INT_LIMITS[column]:
                    value = None
        elif value is not None and not isinstance(value, str):
            value = str(value)
        out[column] = value
    op = out["operation_type"]
    if op is not None:
        op = op.lower()
        out["operation_type"] = _OPERATIONS.get(op, op)
    if out["http_method"] is not None:
        out["http_method"] = out["http_method"].upper()
    if out["db_operation"] is None and ("db.statement" in attrs or "db.query.text" in attrs):
        out["db_operation"] = _first_word(attrs.get("db.query.text") or attrs.get("db.statement"))
    elif out["db_operation"] is not None:
        out["db_operation"] = out["db_operation"].upper()
    return out


def _first_word(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    word = text.strip().split(None, 1)
    return word[0].upper() if word else None
