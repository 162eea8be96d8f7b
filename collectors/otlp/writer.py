"""A bounded queue of rows and the single thread that writes them to the store in large batches.

Receivers decode on their own threads (or decoder processes) and hand Arrow tables of
spans over with :meth:`BatchWriter.offer`; one writer thread appends them in one transaction per
flush (at ``flush_rows`` or every ``flush_interval`` seconds, whichever first). Rows count
against ``max_pending_rows`` from the moment they are offered until they are committed,
so memory stays bounded whatever the load: past the bound, offer() says no and the
receiver answers "retry later".
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pyarrow as pa

from collectors.model import INGEST_ERROR_SCHEMA, SPAN_SCHEMA, to_table
from collectors.store import Store

log = logging.getLogger(__name__)

# Error rows are small but unbounded input could still make many: keep at most this many queued.
MAX_PENDING_ERRORS = 10_000


class BatchWriter:
    def __init__(self, store: Store, *, max_pending_rows: int, flush_rows: int, flush_interval: float) -> None:
        self.store = store
        self.max_pending_rows = max_pending_rows
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self._cond = threading.Condition()
        self._spans: list[pa.Table] = []
        self._queued = 0  # span rows in self._spans
        self._errors: list[dict[str, Any]] = []
        self._pending = 0  # rows queued or being written
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.spans_written = 0
        self.errors_written = 0
        self.errors_dropped = 0
        self.batches = 0
        self.write_failures = 0
        self.rows_lost = 0
        self.last_flush_at: float | None = None
        self.last_flush_seconds = 0.0

    # -- producer side ----------------------------------------------------------------
    def full(self) -> bool:
        return self._pending >= self.max_pending_rows

    @property
    def pending(self) -> int:
        return self._pending

    def offer(self, spans: pa.Table, errors: list[dict[str, Any]] = ()) -> bool:  # type: ignore[assignment]
        """Queue a table of spans (SPAN_SCHEMA) and error rows; False (nothing queued) when that would pass the bound."""
        n = spans.num_rows
        with self._cond:
            if self._stopping:  # a request still in flight at shutdown: the client will retry it
                return False
            if n and self._pending and self._pending + n > self.max_pending_rows:
                return False
            if n:
                self._spans.append(spans)
                self._pending += n
                self._queued += n
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
        self._thread = threading.Thread(target=self._run, name="otlp-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything still queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("OTLP writer did not finish within %.1f s; %d rows pending", timeout, self._pending)
            self._thread = None

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
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
                stopping = self._stopping
            next_flush = time.monotonic() + self.flush_interval
            if spans or errors:
                self._write(spans, taken, errors)
                with self._cond:
                    self._pending -= taken
            if stopping:
                with self._cond:
                    if not self._spans and not self._errors:
                        return

    def _write(self, spans: list[pa.Table], n: int, errors: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        try:
            # one contiguous table: DuckDB's Arrow scan takes the GIL per chunk, and with hundreds of
            # request-sized chunks it would queue behind the decoding threads each time
            span_table = pa.concat_tables(spans).combine_chunks() if spans else SPAN_SCHEMA.empty_table()
            self.store.append({"spans": span_table, "ingest_errors": to_table(errors, INGEST_ERROR_SCHEMA)})
        except Exception:  # the writer must outlive any one batch: log, count, go on
            log.exception("writing %d spans and %d ingest errors failed; they are lost", n, len(errors))
            self.write_failures += 1
            self.rows_lost += n + len(errors)
            return
        self.spans_written += n
        self.errors_written += len(errors)
        self.batches += 1
        self.last_flush_at = time.time()
        self.last_flush_seconds = time.monotonic() - started

