"""A bounded queue of rows and the single thread that writes them to the store in large batches.

Receivers decode on their own threads and hand rows over with :meth:`BatchWriter.offer`;
one writer thread turns them into Arrow tables and appends them in one transaction per
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

from collectors.model import INGEST_ERROR_SCHEMA, SPAN_SCHEMA, error_row, to_table
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
        self._spans: list[dict[str, Any]] = []
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

    def offer(self, spans: list[dict[str, Any]], errors: list[dict[str, Any]] = ()) -> bool:  # type: ignore[assignment]
        """Queue rows; False (nothing queued) when that would pass the bound."""
        with self._cond:
            if spans and self._pending and self._pending + len(spans) > self.max_pending_rows:
                return False
            self._spans.extend(spans)
            self._pending += len(spans)
            self._add_errors(errors)
            if self._pending >= self.flush_rows:
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
                while not self._stopping and len(self._spans) < self.flush_rows:
                    remaining = next_flush - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                spans, self._spans = self._spans, []
                errors, self._errors = self._errors, []
                stopping = self._stopping
            next_flush = time.monotonic() + self.flush_interval
            if spans or errors:
                self._write(spans, errors)
                with self._cond:
                    self._pending -= len(spans)
            if stopping:
                with self._cond:
                    if not self._spans and not self._errors:
                        return

    def _write(self, spans: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
        started = time.monotonic()
        try:
            span_table = _span_table(spans, errors)
            self.store.append({"spans": span_table, "ingest_errors": to_table(errors, INGEST_ERROR_SCHEMA)})
        except Exception:  # the writer must outlive any one batch: log, count, go on
            log.exception("writing %d spans and %d ingest errors failed; they are lost", len(spans), len(errors))
            self.write_failures += 1
            self.rows_lost += len(spans) + len(errors)
            return
        self.spans_written += span_table.num_rows
        self.errors_written += len(errors)
        self.batches += 1
        self.last_flush_at = time.time()
        self.last_flush_seconds = time.monotonic() - started


def _span_table(spans: list[dict[str, Any]], errors: list[dict[str, Any]]) -> Any:
    """Arrow table of the spans; a row Arrow refuses is moved to ``errors`` instead of sinking the batch."""
    try:
        return to_table(spans, SPAN_SCHEMA)
    except (ValueError, TypeError, OverflowError):  # pyarrow's ArrowInvalid/ArrowTypeError subclass these
        pass
    good = []
    now_us = int(time.time() * 1_000_000)
    for row in spans:
        try:
            to_table([row], SPAN_SCHEMA)
        except (ValueError, TypeError, OverflowError) as exc:
            errors.append(error_row(str(row.get("source")), f"span {row.get('span_id')}",
                                    f"span does not fit the store: {exc}", repr(row), now_us))
        else:
            good.append(row)
    return to_table(good, SPAN_SCHEMA)
