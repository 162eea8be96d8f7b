"""Promote OpenTelemetry semantic-convention attributes into store columns.

Both generations of the messaging conventions fold into one set of columns
(docs/architecture.md#telemetry-conventions): old names are accepted wherever the new ones are.
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


# attribute name -> (column, rank); rank 0 is the newest name.
_INDEX: dict[str, tuple[str, int]] = {
    name: (column, rank) for column, names in _PROMOTED.items() for rank, name in enumerate(names)
}
COLUMNS: tuple[str, ...] = tuple(_PROMOTED)  # the order of promote_values()
_SLOTS = {column: i for i, column in enumerate(COLUMNS)}
_INT_SLOTS = {_SLOTS[c]: _INT_LIMITS[c] for c in _INTS}
_OPERATION, _METHOD, _DB_OPERATION, _CLIENT_ID = (
    _SLOTS["operation_type"], _SLOTS["http_method"], _SLOTS["db_operation"], _SLOTS["client_id"])
_DB_TEXT = ("db.query.text", "db.statement")

# Spans of one kind carry the same attribute names span after span: which name wins which column
# is worked out once per name set (the OTLP receiver's hot path), not per span.
_PLANS: dict[tuple[str, ...], tuple[tuple[tuple[int, str], ...], bool]] = {}
_MAX_PLANS = 4096


def _plan(names: tuple[str, ...]) -> tuple[tuple[tuple[int, str], ...], bool]:
    best: dict[int, tuple[int, str]] = {}
    for name in names:
        hit = _INDEX.get(name)
        if hit is not None:
            slot, rank = _SLOTS[hit[0]], hit[1]
            seen = best.get(slot)
            if seen is None or rank < seen[0]:
                best[slot] = (rank, name)
    plan = (tuple((slot, name) for slot, (_, name) in best.items()), any(n in names for n in _DB_TEXT))
    if len(_PLANS) >= _MAX_PLANS:  # unbounded name sets must not grow memory: start over
        _PLANS.clear()
    _PLANS[names] = plan
    return plan


def promote_values(attrs: Mapping[str, Any]) -> list[Any]:
    """The promoted columns found in a span's attributes, as a list in :data:`COLUMNS` order (absent: None)."""
    out: list[Any] = [None] * len(COLUMNS)
    if not attrs:
        return out
    names = tuple(attrs)
    plan = _PLANS.get(names)
    if plan is None:
        plan = _plan(names)
    winners, has_db_text = plan
    for slot, name in winners:
        value = attrs[name]
        if value is None:
            continue
        limit = _INT_SLOTS.get(slot)
        if limit is not None:
            try:
                value = int(value)
            except (TypeError, ValueError):
                value = None
            else:
                # out of the column's range: an Arrow batch would refuse the whole row set
                if not -limit <= value < limit:
                    value = None
        elif type(value) is not str:
            value = str(value)
        out[slot] = value
    op = out[_OPERATION]
    if op is not None:
        op = op.lower()
        out[_OPERATION] = _OPERATIONS.get(op, op)
    if out[_METHOD] is not None:
        out[_METHOD] = out[_METHOD].upper()
    if out[_DB_OPERATION] is None and has_db_text:
        out[_DB_OPERATION] = _first_word(attrs.get("db.query.text") or attrs.get("db.statement"))
    elif out[_DB_OPERATION] is not None:
        out[_DB_OPERATION] = out[_DB_OPERATION].upper()
    return out


def promote(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Return the promoted columns found in a span's attributes (absent ones are None)."""
    return dict(zip(COLUMNS, promote_values(attrs), strict=True))


def _first_word(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    word = text.strip().split(None, 1)
    return word[0].upper() if word else None
