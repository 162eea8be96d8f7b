"""The one rule for repeated JSON names: the first value wins, everywhere Seamwatch reads JSON.

RFC 8259 leaves repeated names to the reader. Python's json keeps the last, DuckDB's reader
(the Kafka tap's bulk path) and the native reader keep the first. Every Python reader
(`seamwatch import`, the OTLP/JSON decoder, the tap's reference normalizer) parses with
:func:`loads`, so all paths agree on the first.
"""

from __future__ import annotations

import json
from typing import Any


def first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a repeated name keeps its first value, in its first position."""
    obj = dict(pairs)
    if len(obj) == len(pairs):  # no repeats: the common case costs one dict() and a len()
        return obj
    obj = {}
    for name, value in pairs:
        obj.setdefault(name, value)
    return obj


# one decoder: json.loads(..., object_pairs_hook=...) builds a new one on every call
_DECODER = json.JSONDecoder(object_pairs_hook=first_wins)


def loads(text: str | bytes) -> Any:
    """json.loads with the first-wins rule for repeated names (bytes decoded as json.loads does)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)
