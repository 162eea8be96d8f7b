"""OTLP protobuf → Arrow table of spans in Rust (collectors/kafka/native/src/otlp.rs), without the GIL.

The twin of :func:`collectors.normalize.otlp_proto.span_values_from_proto` followed by
``table_from_tuples``: the same table, byte for byte, for every request it takes. It takes only
what it reproduces exactly; for anything else (a span Python would reject, a repeated attribute
key, a value whose Python text it does not write, non-ASCII case mapping, protobuf it does not
read as protobuf does) and on a panic, :func:`span_table` returns None and the caller decodes the
whole request with the Python decoder, the reference. ``SEAMWATCH_OTLP_DECODER=python`` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from collectors.model import SPAN_SCHEMA
from collectors.normalize import semconv
from collectors.normalize.otlp_limits import Limits
from collectors.normalize.otlp_proto import MAX_ATTRIBUTES

log = logging.getLogger(__name__)

try:
    from collectors.kafka import _native
except ImportError:  # built without a Rust toolchain
    _native = None

ENV = "SEAMWATCH_OTLP_DECODER"
DEFAULT_LIMITS = Limits()


def _decoder() -> Any:
    if _native is None or not hasattr(_native, "SpanDecoder"):
        return None
    cols = semconv.COLUMNS
    promoted = [(list(semconv._PROMOTED[c]), semconv._INT_LIMITS.get(c, 0)) for c in cols]
    return _native.SpanDecoder(
        promoted, cols.index("operation_type"), cols.index("http_method"), cols.index("db_operation"),
        cols.index("client_id"), sorted(semconv._OPERATIONS.items()), list(semconv._DB_TEXT), MAX_ATTRIBUTES)


_DECODER = _decoder()


class Counters:
    """Requests taken natively and left to Python (a panic is also logged once)."""

    native = 0
    fallbacks = 0
    panics = 0


def available() -> bool:
    return _DECODER is not None


_warned: set[str] = set()


def chosen() -> str:
    """The decoder ``SEAMWATCH_OTLP_DECODER`` asks for: "native" (the default when built) or "python".

    Read on every request (a dictionary look-up), so that decoder processes and tests follow it.
    A value it cannot honour is said once and Python decodes.
    """
    wanted = os.environ.get(ENV, "").strip().lower()
    if not wanted or wanted == "native":
        if _DECODER is not None:
            return "native"
        if wanted and "unbuilt" not in _warned:
            _warned.add("unbuilt")
            log.warning("%s=native, but the native module was not built (it needs a Rust toolchain): "
                        "decoding OTLP in Python", ENV)
        return "python"
    if wanted != "python" and wanted not in _warned:
        _warned.add(wanted)
        log.warning("%s=%s is neither python nor native: decoding OTLP in Python", ENV, wanted[:40])
    return "python"


@contextlib.contextmanager
def using(name: str) -> Iterator[None]:
    """Decode with ``name`` ("python" or "native") inside the block, as ``SEAMWATCH_OTLP_DECODER`` says."""
    before = os.environ.get(ENV)
    os.environ[ENV] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ[ENV]
        else:
            os.environ[ENV] = before


def span_table(body: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> pa.Table | None:
    """The request's spans as a SPAN_SCHEMA table, or None: decode it with the Python decoder instead.

    A request with a span over one of ``limits`` is left to Python too (otlp_limits.screen_proto
    rejects such spans with the reason); so is one with a span Python rejects: the table holds
    every span of the request.
    """
    if _DECODER is None:
        return None
    out = _DECODER.decode(body, source, [limits.resource_attributes, limits.span_attributes, limits.span_events,
                                         limits.span_links, limits.item_attributes, limits.request_values])
    if isinstance(out, str):
        Counters.fallbacks += 1
        if out != "fallback":
            Counters.panics += 1
            if Counters.panics == 1:
                log.warning("the native OTLP decoder failed (%s); this request and any like it are decoded in "
                            "Python", out[:200])
        return None
    try:
        batch = pa.record_batch(_Exported(out))
    except Exception as exc:  # noqa: BLE001 (a pyarrow that cannot import it: Python decodes, nothing is lost)
        _give_up(f"pyarrow could not import its columns ({type(exc).__name__}: {str(exc)[:200]})")
        Counters.fallbacks += 1
        return None
    Counters.native += 1
    return pa.Table.from_batches([batch])


class _Exported:
    """The decoder's columns as the Arrow PyCapsule interface has them: one struct array (made in
    Rust, cdata.rs) with SPAN_SCHEMA, which ``pa.record_batch`` imports without copying a buffer."""

    __slots__ = ("_array",)

    def __init__(self, array: Any) -> None:
        self._array = array

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        return SPAN_SCHEMA.__arrow_c_schema__(), self._array.capsule()


def _give_up(reason: str) -> None:
    """Turn the native decoder off for this process, saying why once: every request is decoded in Python."""
    global _DECODER
    _warned.add("unbuilt")  # SEAMWATCH_OTLP_DECODER=native must not then read "not built"
    if _DECODER is not None:
        log.warning("the native OTLP decoder is off: %s; requests are decoded in Python", reason)
    _DECODER = None
