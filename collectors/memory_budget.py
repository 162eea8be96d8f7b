"""A collector process's memory budget (``--memory 400MB``): what DuckDB and the Kafka tap may hold.

The budget is split, not enforced: the parts that grow with load are sized so that their sum
stays under it at full speed (`seamwatch bench kafka` and tests/collectors/kafka/test_memory_budget.py
measure the peak RSS). What is left after the fixed part goes to

- DuckDB's ``memory_limit`` (past it, DuckDB evicts, spills to disk or fails a query): half.
  It is a ceiling the tap's writes stay under, not a reservation: writing a batch, DuckDB
  holds its rows uncompressed and the row groups it has just written, 79 MiB at most for the
  bench's 32,768-row batches (``duckdb_memory()``). At a third (65 MiB at 400MB, when the
  fixed part was 184 MiB) it evicted while it wrote, and the tap ran 14 % slower for 15 MiB
  less peak RSS; at half (78 MiB) the peak RSS was 334–353 MiB where two thirds gave 344–363;
- the tap's librdkafka prefetch (``queued.max.messages.kbytes``, ``fetch.max.bytes``,
  ``max.partition.fetch.bytes``): a 160th; librdkafka holds the fetch responses its queued
  messages point into, several times the queue's nominal size (at a 48th of the old split they
  were ~30 MiB of the peak);
- the tap's batches: three are in memory at once, each handed over when the next stage takes
  it (being consumed, normalized, written), each record costing its Message, its captured
  columns, its Arrow row and DuckDB's copy of it.

At 400MB a batch is a whole row group (32,768 rows, collectors/store/db.py), which skips
DuckDB's write-ahead log, and DuckDB gets 78 MiB to write it (with half a row group and a
39 MiB limit DuckDB's threads took 5 µs of CPU a record; with a whole one, 0.2). Measured on the
bench's ~300 B JSON records (docs/architecture.md#memory-budget): the fixed part, `seamwatch collect` idle (an interpreter
with DuckDB, Arrow, confluent-kafka and an open store, without pandas: arrow_without_pandas),
is 145–157 MiB, 199 MiB on a fresh install (its libraries' pages, just written, are all in the
page cache, so each page fault maps more of them: 139 MiB of file pages at the peak), and what
the lag poller's child process (collectors/kafka/lag_process.py) alone holds 17 MiB (its
private pages; the libraries it maps are the collector's too, counted once).
"""

from __future__ import annotations

import ctypes
import importlib.abc
import sys
from dataclasses import dataclass
from typing import Any

from collectors.errors import ConfigError
from collectors.otlp.config import parse_size
from collectors.store.db import ROW_GROUP_ROWS  # a batch of whole row groups skips DuckDB's write-ahead log

MB = 1 << 20  # MiB; a budget of "400MB" is 400,000,000 bytes (collectors/otlp/config.py parse_size)
FIXED = 224 * MB  # `seamwatch collect` idle on a fresh install, and what its lag poller's child process alone holds (measured)
MINIMUM = 320_000_000  # "320MB"; below this the batches get too small to keep up with a busy topic
RECORD_COST = 4 << 10  # budget bytes per record of a batch (three in flight: captured, normalized, written)


@dataclass(frozen=True)
class MemoryBudget:
    total: int  # bytes

    @classmethod
    def parse(cls, text: str) -> MemoryBudget:
        budget = cls(parse_size(text, what="--memory"))
        if budget.total < MINIMUM:
            raise ConfigError(f"--memory must be at least {MINIMUM // 10**6}MB (the collector itself takes about "
                              f"{FIXED // MB} MiB), not {text!r}")
        return budget

    @property
    def _spare(self) -> int:
        return self.total - FIXED

    @property
    def duckdb_limit(self) -> str:
        """DuckDB's memory_limit: half of what the fixed part leaves, about what writing a
        batch takes (79 MiB for a row group of bench records: below it DuckDB evicts as it writes)."""
        return f"{max(32, self._spare // 2 // MB)}MiB"

    def store_settings(self) -> dict[str, Any]:
        """The store's settings under the budget: DuckDB's limit, and one worker thread. On two cores
        DuckDB's second thread raced the tap's stages while it wrote a batch under its limit:
        `collect --memory 400MB` on the 1M bench topic read 264k–269k records/s with one thread
        against 193k–262k with two, at the same peak RSS (342–347 MB), four runs each. The deriver's
        queries run on that one thread too."""
        return {"memory_limit": self.duckdb_limit, "threads": 1}

    def fetch(self) -> dict[str, Any]:
        """librdkafka settings of the tap's consumer (-X settings still win over them)."""
        queue = min(max(self._spare // 160, 1 * MB), 16 * MB)
        return {"queued.max.messages.kbytes": queue >> 10, "fetch.max.bytes": queue,
                "max.partition.fetch.bytes": min(queue, 1 * MB)}

    @property
    def batch_messages(self) -> int:
        """Records a tap batch holds at most: whole row groups when the budget allows one."""
        n = min(max(self._spare // RECORD_COST, 2_000), 50_000)
        return n - n % ROW_GROUP_ROWS if n >= ROW_GROUP_ROWS else n

    @property
    def batch_bytes(self) -> int:
        """Bytes of captured records a tap batch holds at most (large values)."""
        return min(max(self._spare // 8, 4 * MB), 64 * MB)

    def describe(self) -> dict[str, Any]:
        store = self.store_settings()
        return {"memory": f"{self.total / 1e6:.0f}MB", "duckdb_memory_limit": store["memory_limit"],
                "duckdb_threads": store["threads"], "batch_messages": self.batch_messages, **self.fetch()}



# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_GIVE_BACK = 128 << 10  # freed blocks this large go back to the system at once


def lean_process() -> None:
    """Process-wide allocator settings under a budget, before the collectors start.

    Each batch's buffers are allocated on one thread and freed on another. By default glibc
    raises its mmap threshold up to 32 MB as large blocks are freed, so batch-sized buffers land in
    per-thread arenas that keep what they free; with a fixed threshold and two arenas they go
    back at once. Arrow's own allocator (jemalloc) likewise holds freed pages for a while: the
    system allocator does not. Measured with `seamwatch bench kafka` (docs/architecture.md#memory-budget).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc; elsewhere the allocator stays as it is
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, 2)
        mallopt(_M_MMAP_THRESHOLD, _GIVE_BACK)
        mallopt(_M_TRIM_THRESHOLD, _GIVE_BACK)
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def arrow_without_pandas() -> None:
    """Keep pandas (~35 MiB resident, a second to import) out of a process that never uses it.

    Arrow asks once per process whether pandas is installed, importing it to find out, the first
    time it converts Python objects (pa.array of a list, pa.scalar): the collectors do that on every
    batch. Asked while the import is refused, Arrow takes pandas as absent for its conversions
    and would still import it for a call that needs it (to_pandas). To be called before anything
    converts; a process that already imported pandas keeps it.
    """
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    sys.meta_path.insert(0, _refuse_pandas)
    try:
        pa.scalar(0)  # Arrow's one look for pandas
    finally:
        sys.meta_path.remove(_refuse_pandas)


class _RefusePandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ImportError("pandas is not used here", name=name)


_refuse_pandas = _RefusePandas()
