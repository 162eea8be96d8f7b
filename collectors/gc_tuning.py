"""Fewer garbage-collector passes while a collector turns messages into columns.

Extracting a batch's fields allocates a few tuples and lists per message (header pairs,
timestamps), millions a minute, none of them in reference cycles. With CPython's default
threshold (a young-generation pass every 700 allocations) the collector spends about half
of its extraction time in the cycle collector: measured on 400k bench records, 9.2 µs of
consume-and-extract per record at (700, 10, 10) and 4.5 µs at (100_000, 50, 1000), the same
as with the collector off. Cycles are still found, only later; the thresholds go back to
what they were when the last user leaves.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RELAXED = (100_000, 50, 1000)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Raise the collector's thresholds for the duration (re-entrant, thread-safe)."""
    global _users, _saved  # noqa: PLW0603 (one process-wide setting, counted)
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*(max(a, b) for a, b in zip(_saved, RELAXED, strict=True)))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None
