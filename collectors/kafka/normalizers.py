"""The tap's three normalizers, side by side behind one interface, chosen once per session.

- native: per-record work in Rust (collectors.kafka.fastpath), when built at install;
- bulk: Arrow columns and one DuckDB query per batch (collectors.kafka.batch);
- reference: normalize's record_row for every record, the semantics the other two reproduce.

Each captures a consume() call's messages into its own kind of batch, concatenates those
into one batch per hand-over and converts that to RECORD_SCHEMA rows plus ingest errors;
the records a fast path cannot reproduce exactly go through the reference, which every
normalizer also offers for a whole batch when its fast work fails. One table of envelope
cases, tests/collectors/kafka/test_batch_parity.py, holds all three to the same results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

from collectors.kafka import fastpath
from collectors.kafka.batch import BulkNormalizer, ReferenceNormalizer, ReferenceRows

log = logging.getLogger(__name__)

PATHS = ("native", "bulk", "reference")  # per-record work in Rust; a DuckDB query; record_row each


class Normalizer(Protocol):
    path: str
    rows: ReferenceRows  # the reference path and what the paths share (slow_rows counts its records)

    def capture(self, msgs: Sequence[Any]) -> Any:
        """A consume() call's messages in columns (the Message objects can go)."""

    def concat(self, parts: Sequence[Any]) -> Any:
        """Captured chunks as one batch."""

    def convert(self, batch: Any, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """RECORD_SCHEMA rows and ingest-error rows for a batch."""

    def reference(self, batch: Any, *, tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """The same through record_row only: when convert itself failed."""

    def fallback(self) -> Normalizer | None:
        """The normalizer to switch to when capture fails on a message, if any."""

    def close(self) -> None: ...


def resolve(path: str) -> str:
    """'auto' as the best path built here; an unknown or unbuilt path is a one-line error."""
    if path == "auto":
        path = "native" if fastpath.available() else "bulk"
        if path == "bulk":
            log.warning("the tap's native path was not built (no Rust toolchain at install): it reads "
                        "about half as fast; reinstall with cargo on the PATH for the native path")
    if path not in PATHS:
        raise ValueError(f"unknown tap path {path!r}; one of {', '.join(PATHS)}")
    if path == "native" and not fastpath.available():
        raise ValueError("the native tap path was not built (it needs a Rust toolchain at install)")
    return path


def choose(path: str, *, cluster: str, source: str = "kafka", dlt_patterns: Sequence[str] | None = None) -> Normalizer:
    """A fresh normalizer for one of PATHS (see resolve for 'auto')."""
    kinds: dict[str, type] = {"native": fastpath.NativeNormalizer, "bulk": BulkNormalizer,
                              "reference": ReferenceNormalizer}
    extra = {} if dlt_patterns is None else {"dlt_patterns": dlt_patterns}
    return kinds[resolve(path)](ReferenceRows(cluster=cluster, source=source, **extra))
