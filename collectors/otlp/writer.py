"""A bounded queue of rows and the single thread that writes them to the store in large batches.

Receivers decode on their own threads (or decoder processes) and hand Arrow tables of
spans over with :meth:`BatchWriter.offer`; one writer thread appends them in one transaction per
flush (at ``flush_rows`` or every ``flush_interval`` seconds, whichever first). Rows count
against ``max_pending_rows`` and their Arrow bytes against ``max_pending_bytes`` from the moment
they are offered until they are committed, so memory stays bounded whatever the load: past
either bound, offer() says no and the receiver answers "retry later".

A request answered 200/OK has its rows in this queue, so a failed write never drops them: the
batch goes back to the head of the queue and is retried with backoff, and while writes fail
:attr:`failing` says why in one sentence and offer() refuses (the receiver answers 503 /
UNAVAILABLE). On a lake a commit that conflicts with another writer's is made again until it
goes through, without refusing anything (collectors/store/faults.py). Retries of one request
store its spans once: a span whose (trace_id, span_id, start_time) is already stored, or
earlier in the same batch, is skipped.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from collectors.errors import first_line
from collectors.model import INGEST_ERROR_SCHEMA, SPAN_SCHEMA, to_table
from collectors.store import Store, faults
from collectors.store.lake import is_lake

log = logging.getLogger(__name__)

# Error rows are small but unbounded input could still make many: keep at most this many queued.
MAX_PENDING_ERRORS = 10_000
DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024
# A write that fails for another reason than I/O (a row DuckDB refuses) is retried this often,
# then its rows are counted lost: one poisoned batch must not stop the receiver for good.
MAX_ATTEMPTS_NOT_IO = 5
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0

_COLUMNS = ", ".join(f'"{c}"' for c in SPAN_SCHEMA.names)
_KEY = ["trace_id", "span_id", "start_time"]
# A retried export request carries the same spans again. They are skipped here, where the batch
# meets the store: the first row of each (trace_id, span_id, start_time) in the batch, and none
# whose key is stored already. Only the key columns are compared (Arrow groups the batch's keys;
# DuckDB looks them up in the store), and the rows to skip are filtered out in Arrow: the
# insert itself is a plain append, without DuckDB carrying every column through a DISTINCT and an
# anti-join. The start_time range (bound from the batch) lets DuckDB skip the row groups of other
# times by their min/max, so the look-up costs the batch's time window, not the whole table. A batch
# whose spans lie in far-apart stretches (a late span from an hour ago beside this second's) is looked
# up stretch by stretch (_windows): one range from the oldest to the newest would read every span
# stored between them, 23 ms a million spans in one measure, at every flush that carries a late span.
STORED_KEYS = """
SELECT k.i FROM _keys AS k
WHERE k.start_time BETWEEN $1 AND $2 AND EXISTS (
    SELECT 1 FROM spans AS s
    WHERE s.start_time BETWEEN $1 AND $2
      AND s.trace_id = k.trace_id AND s.span_id = k.span_id AND s.start_time = k.start_time
)
"""
# Start times further apart than this are looked up in separate windows, at most MAX_WINDOWS a batch.
WINDOW_GAP_US = 60 * 1_000_000
MAX_WINDOWS = 16
INSERT_SPANS = f"INSERT INTO spans ({_COLUMNS}) SELECT {_COLUMNS} FROM _batch"  # noqa: S608 (the schema's names)


# The batch's copy into one table is made with the C library's allocator, not Arrow's default
# (mimalloc). mimalloc asks for transparent huge pages (MADV_HUGEPAGE) and hands freed pages back
# soon after, so the next batch's copy faults them in again, 2 MiB at a time, and where the kernel
# compacts memory to find huge pages for such a fault (defrag "madvise", a common default) the
# first batches' copies took up to 1.4 s of CPU in an 8 s bench; glibc reuses the freed blocks of
# the previous batch. Measured in `seamwatch bench otlp` (in-process): the copy's CPU over a run
# 0.52-1.86 s with mimalloc, 0.41-0.43 s with glibc.
_GLUE_POOL = pa.system_memory_pool()

_IO = "io"  # the kind of a file store's I/O failure (a lake's are collectors/store/faults.py's)
_AFTERMATH = re.compile(r"transaction is aborted|has been invalidated")


def _nearly_full(path: str) -> bool:
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def write_failure(path: str, exc: BaseException) -> faults.Fault:
    """Why writing to the store at ``path`` failed, as a :class:`faults.Fault`: one sentence naming
    the store, and a kind when the failure is worth waiting for (I/O, a lake's outage or conflict)."""
    if is_lake(path):  # the catalog, the data path or a conflict (collectors/store/faults.py)
        return faults.classify(exc, path)
    text = first_line(exc)
    if "No space left on device" in text or (_AFTERMATH.search(text) and _nearly_full(path)):
        # another writer (the deriver) may have met the full disk first and left this transaction
        # aborted: the cause is still the disk, and that is what the user must hear
        return faults.Fault(_IO, f"the disk holding {path} is full (No space left on device)")
    # an I/O failure can leave DuckDB's transaction aborted or the database invalidated: what
    # follows is the same outage, so it is waited out too, never counted against the batch
    aftermath = _AFTERMATH.search(text) is not None
    io = (isinstance(exc, OSError) or "IO Error" in text or "Could not write" in text or "I/O" in text
          or aftermath)
    return faults.Fault(_IO if io else None, f"cannot write to {path}: {text}")


class BatchWriter:
    def __init__(self, store: Store, *, max_pending_rows: int, flush_rows: int, flush_interval: float,
                 max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES) -> None:
        self.store = store
        self.max_pending_rows = max_pending_rows
        self.max_pending_bytes = max_pending_bytes
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self._cond = threading.Condition()
        self._spans: list[pa.Table] = []
        self._queued = 0  # span rows in self._spans
        self._queued_bytes = 0
        self._errors: list[dict[str, Any]] = []
        self._pending = 0  # rows queued or being written
        self._pending_bytes = 0
        self._stopping = False
        self._deadline = float("inf")  # when stop() gives up retrying a failing write
        self._thread: threading.Thread | None = None
        self.failing: str | None = None  # why writes fail right now (one sentence), None when they work
        self.spans_written = 0
        self.duplicates_skipped = 0
        self.errors_written = 0
        self.errors_dropped = 0
        self.batches = 0
        self.write_failures = 0
        self.conflicts = 0  # lake commits that met another writer's and were made again
        self._conflicting = False
        self._fault_kind: str | None = None  # the lake fault writes fail with now (collectors/store/faults.py)
        self.rows_lost = 0  # rows of a batch DuckDB refused MAX_ATTEMPTS_NOT_IO times (never for I/O)
        self.lost_spans = 0  # spans among rows_lost: acknowledged, so the command must say so at exit
        self.lost_reason: str | None = None
        self.unwritten = 0  # rows still queued when stop() gave up (the store kept failing)
        self.last_flush_at: float | None = None
        self.last_flush_seconds = 0.0

    # -- producer side ----------------------------------------------------------------
    def full(self) -> bool:
        """True while nothing more is accepted: the queue is at a bound, or writes fail."""
        return (self.failing is not None or self._pending >= self.max_pending_rows
                or self._pending_bytes >= self.max_pending_bytes)

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def offer(self, spans: pa.Table, errors: list[dict[str, Any]] = ()) -> bool:  # type: ignore[assignment]
        """Queue a table of spans (SPAN_SCHEMA) and error rows; False (nothing queued) when that would pass
        a bound or writes are failing."""
        n, nbytes = spans.num_rows, spans.nbytes
        with self._cond:
            if self._stopping or self.failing is not None:  # the client will retry it
                return False
            # one request is always let in when nothing is held, so one big request cannot starve
            if n and self._pending and (self._pending + n > self.max_pending_rows
                                        or self._pending_bytes + nbytes > self.max_pending_bytes):
                return False
            if n:
                self._spans.append(spans)
                self._pending += n
                self._pending_bytes += nbytes
                self._queued += n
                self._queued_bytes += nbytes
            self._add_errors(errors)
            if self._queued >= self.flush_rows:
                self._cond.notify()
            return True

    def offer_errors(self, errors: list[dict[str, Any]]) -> None:
        """Queue ingest-error rows; always accepted, but bounded (the excess is only counted)."""
        with self._cond:
            self._add_errors(errors)

    def _add_errors(self, errors: list[dict[str, Any]]) -> None:
        room = MAX_PENDING_ERRORS - len(self._errors)
        if len(errors) > room:
            self.errors_dropped += len(errors) - max(room, 0)
            errors = errors[: max(room, 0)]
        self._errors.extend(errors)

    # -- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="otlp-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything still queued, retrying a failing store until ``timeout``; then end the thread.

        What could not be written by then is counted in :attr:`unwritten` (and logged once).
        """
        with self._cond:
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout + 5)
            if self._thread.is_alive():
                log.warning("OTLP writer did not finish within %.1f s; %d rows pending", timeout, self._pending)
                self.unwritten = self._pending
            self._thread = None

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        backoff, attempts = 0.0, 0
        while True:
            with self._cond:
                while not self._stopping and self._queued < self.flush_rows:
                    remaining = next_flush - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                spans, self._spans = self._spans, []
                errors, self._errors = self._errors, []
                taken, self._queued = self._queued, 0
                taken_bytes, self._queued_bytes = self._queued_bytes, 0
                stopping = self._stopping
            written = True
            if spans or errors:
                written, io = self._write(spans, taken, errors)
                attempts = 0 if written else attempts + 1
                if not written and not io and attempts >= MAX_ATTEMPTS_NOT_IO:
                    log.error("%s; %d spans and %d ingest errors given up after %d attempts",
                              self.failing, taken, len(errors), attempts)
                    self.rows_lost += taken + len(errors)
                    self.lost_spans += taken
                    self.lost_reason = self.failing
                    written, attempts, self.failing = True, 0, None
                with self._cond:
                    if written:
                        self._pending -= taken
                        self._pending_bytes -= taken_bytes
                    else:  # back to the head of the queue, in order: it was acknowledged
                        self._spans[:0] = spans
                        self._queued += taken
                        self._queued_bytes += taken_bytes
                        self._errors[:0] = errors
            if not written:
                backoff = min(max(backoff * 2, BACKOFF_FIRST), BACKOFF_MAX)
                now = time.monotonic()
                if stopping and now >= self._deadline:
                    self.unwritten = self._pending
                    log.error("%s; %d acknowledged spans could not be written before the receiver stopped",
                              self.failing or "its commits kept conflicting with other writers'", self.unwritten)
                    return
                time.sleep(min(backoff, max(self._deadline - now, 0.0)))
                next_flush = time.monotonic()  # retry at once after the backoff
                continue
            backoff = 0.0
            next_flush = time.monotonic() + self.flush_interval
            if stopping:
                with self._cond:
                    if not self._spans and not self._errors:
                        return

    def _write(self, spans: list[pa.Table], n: int, errors: list[dict[str, Any]]) -> tuple[bool, bool]:
        """One transaction; (written, failed for I/O)."""
        started = time.monotonic()
        try:
            # one contiguous table: DuckDB's Arrow scan takes the GIL per chunk, and with hundreds of
            # request-sized chunks it would queue behind the decoding threads each time
            span_table = (pa.concat_tables(spans).combine_chunks(memory_pool=_GLUE_POOL) if spans
                          else SPAN_SCHEMA.empty_table())
            with self.store.transaction() as tx:
                stored = _insert_new_spans(tx.cursor, span_table)
                if errors:  # (an empty one would cost pyarrow its first import of pandas, a second)
                    tx.append("ingest_errors", to_table(errors, INGEST_ERROR_SCHEMA))
        except Exception as exc:  # the writer must outlive any one batch: keep it, say why once, retry
            self.write_failures += 1
            fault = write_failure(self.store.path, exc)
            if fault.kind == faults.CONFLICT:
                # another writer of the lake committed to the table first: nothing is wrong, the
                # batch is committed again (never given up: its spans were acknowledged)
                if not self._conflicting:
                    log.info("%s; committing the batch of %d spans again", fault.reason, n)
                self._conflicting = True
                self.conflicts += 1
                return False, True
            reason, io = fault.reason, fault.transient
            if io and self.failing is not None and _AFTERMATH.search(reason):
                reason = self.failing  # the outage that aborted the transaction is still the news
            # one line per outage: a lake's catalog going from refused to "starting up" is the same one
            news = reason != self.failing and (not self.store.lake or fault.kind != self._fault_kind
                                               or self.failing is None)
            self._fault_kind = fault.kind
            if news:
                log.warning("%s; holding %d spans and retrying (exporters are answered 503/UNAVAILABLE meanwhile)",
                            reason, self._pending)
            self.failing = reason
            return False, io
        if self.failing is not None:
            log.warning("writing to %s works again; %d held spans written", faults.name(self.store.path), stored)
            self.failing = None
        self._conflicting = False
        self.spans_written += stored
        self.duplicates_skipped += n - stored
        self.errors_written += len(errors)
        self.batches += 1
        self.last_flush_at = time.time()
        self.last_flush_seconds = time.monotonic() - started
        return True, False


def _first_of_each_key(keys: pa.Table) -> pa.Array:
    """The row numbers (column "i") of the first row of each (trace_id, span_id, start_time) in ``keys``.

    A batch without copies, the usual one, is recognised without grouping: its (trace_id, span_id)
    pairs are all distinct (a copy repeats the pair). Only a batch with a repeated pair is grouped,
    in Arrow's Acero engine, whose first use in a process costs about half a second.
    """
    if _pairs_distinct(keys):
        return keys.column("i").combine_chunks()
    pairs = pc.binary_join_element_wise(keys.column("trace_id"), keys.column("span_id"), "")
    if pc.count_distinct(pairs, mode="all").as_py() == keys.num_rows:
        return keys.column("i").combine_chunks()
    return keys.group_by(_KEY, use_threads=False).aggregate([("i", "min")]).column("i_min").combine_chunks()


_HASH_FACTOR = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it loses no bits


def _pairs_distinct(keys: pa.Table) -> bool:
    """True when the (trace_id, span_id) pairs are all distinct, told from a 64-bit hash of each pair;
    False when some hashes meet (a copy, or rarely two pairs with one hash) or the ids are not the
    usual 32 and 16 hex digits: the exact check decides then.

    Arrow's exact check (joining the two ids and counting the distinct strings) builds a hash
    table in freshly allocated memory every flush: ~0.5 µs a span, mostly the kernel zeroing the
    pages. Here the ids are read in place as 64-bit words and the hashes sorted: ~0.02 µs a span.
    """
    trace, span = _id_words(keys.column("trace_id"), 32), _id_words(keys.column("span_id"), 16)
    if trace is None or span is None:
        return False
    h = trace[:, 0].copy()
    for word in (trace[:, 1], trace[:, 2], trace[:, 3], span[:, 0], span[:, 1]):
        h *= _HASH_FACTOR
        h += word
    h.sort()
    return not (h[1:] == h[:-1]).any()


def _id_words(column: pa.ChunkedArray, width: int) -> np.ndarray | None:
    """The ids of a string column as rows of ``width`` / 8 64-bit words, read from Arrow's buffers
    without copying a chunk; None when a value is null or not ``width`` bytes long."""
    parts = []
    for chunk in column.chunks:
        if chunk.null_count:
            return None
        if not len(chunk):
            continue
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32, count=len(chunk) + 1, offset=chunk.offset * 4)
        if ends[-1] - ends[0] != width * len(chunk) or (len(chunk) > 1 and (np.diff(ends) != width).any()):
            return None
        parts.append(np.frombuffer(data, dtype=np.uint8, count=width * len(chunk), offset=int(ends[0])))
    if not parts:
        return None
    raw = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return raw.view(np.uint64).reshape(-1, width // 8)


def _windows(start_times: pa.ChunkedArray) -> list[tuple[Any, Any]]:
    """The stretches of time the batch's spans start in, as (first, last) timestamps: split where two
    start times in order lie more than WINDOW_GAP_US apart, at the MAX_WINDOWS - 1 widest such gaps."""
    micros = start_times.cast(pa.int64()).combine_chunks().drop_null().to_numpy(zero_copy_only=False)
    if not len(micros):
        return []
    micros = np.sort(micros)
    gaps = np.diff(micros)
    cuts = np.flatnonzero(gaps > WINDOW_GAP_US)
    if len(cuts) >= MAX_WINDOWS:
        cuts = np.sort(cuts[np.argsort(gaps[cuts], kind="stable")[-(MAX_WINDOWS - 1):]])
    firsts = np.concatenate(([0], cuts + 1))
    lasts = np.concatenate((cuts, [len(micros) - 1]))
    unit = start_times.type
    return [(pa.scalar(int(micros[a]), unit).as_py(), pa.scalar(int(micros[b]), unit).as_py())
            for a, b in zip(firsts, lasts, strict=True)]


def _insert_new_spans(cur: Any, table: pa.Table) -> int:
    """Append the spans not stored yet (see STORED_KEYS); returns how many were."""
    if table.num_rows == 0:
        return 0
    # row numbers, from numpy's buffer as is (pa.array() would look for pandas first: a second's import)
    rows = pa.Array.from_buffers(pa.int64(), table.num_rows, [None, pa.py_buffer(np.arange(table.num_rows, dtype=np.int64))])
    keys = table.select(_KEY).append_column("i", rows)
    first = _first_of_each_key(keys)
    cur.register("_keys", keys)
    try:
        stored = [i for low, high in _windows(table.column("start_time"))
                  for (i,) in cur.execute(STORED_KEYS, [low, high]).fetchall()]
    finally:
        cur.unregister("_keys")
    if len(first) < table.num_rows or stored:  # copies in the batch, or spans stored already
        keep = pc.is_in(rows, first)
        if stored:
            keep = pc.and_(keep, pc.invert(pc.is_in(rows, pa.array(stored, pa.int64()))))
        table = table.filter(keep)
        if table.num_rows == 0:
            return 0
    cur.register("_batch", table)
    try:
        cur.execute(INSERT_SPANS)
    finally:
        cur.unregister("_batch")
    return table.num_rows
