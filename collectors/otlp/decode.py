"""Body → Arrow table of spans, in this process or in a pool of decoder processes.

Decoding is Python work and holds the GIL: one process tops out near one core (about
30k spans/s stored on the reference machine). A small pool of spawned processes decodes
in parallel and sends back Arrow IPC, which the parent only maps; the store's append runs
outside the GIL anyway. ``workers=0`` keeps everything in-process (tests, tiny setups).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pyarrow as pa

from collectors.model import SPAN_SCHEMA, to_table
from collectors.normalize.otlp_json import spans_from_json
from collectors.normalize.otlp_proto import spans_from_proto

log = logging.getLogger(__name__)

Decoded = tuple[pa.Table, list[tuple[str, str]]]  # spans, and (reason, excerpt) of each rejected span


class DecoderUnavailable(RuntimeError):
    """The decoder pool broke (a worker died); the request may be retried."""


def decode(body: bytes, fmt: str, source: str) -> Decoded:
    """Decode a whole request; raises ValueError (or subclasses) when it is not OTLP at all."""
    if fmt == "json":
        rows, rejected = spans_from_json(_json_object(body), source=source)
    else:
        rows, rejected = spans_from_proto(body, source=source)
    return _table(rows, rejected), rejected


def _json_object(body: bytes) -> Any:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("body is not a JSON object: not OTLP trace data")
    return doc


def _table(rows: list[dict[str, Any]], rejected: list[tuple[str, str]]) -> pa.Table:
    """Arrow table of the rows; a row Arrow refuses joins ``rejected`` instead of sinking the request."""
    try:
        return to_table(rows, SPAN_SCHEMA)
    except (ValueError, TypeError, OverflowError):  # pyarrow's ArrowInvalid/ArrowTypeError subclass these
        pass
    good = []
    for row in rows:
        try:
            to_table([row], SPAN_SCHEMA)
        except (ValueError, TypeError, OverflowError) as exc:
            rejected.append((f"span does not fit the store: {exc}", repr(row)[:1024]))
        else:
            good.append(row)
    return to_table(good, SPAN_SCHEMA)


def _decode_ipc(body: bytes, fmt: str, source: str) -> tuple[bytes, list[tuple[str, str]]]:
    """Worker side: decode and return the table as Arrow IPC stream bytes."""
    table, rejected = decode(body, fmt, source)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), rejected


def _warm() -> None:
    """Worker initializer (imports happen on loading this module). Ctrl+C reaches the whole process
    group: workers ignore it and let the parent shut them down after the final flush."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _ready() -> None:
    """A no-op task: its result says a worker is up."""


class Decoder:
    """Decodes in-process (workers=0) or in a pool of spawned processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.pool_restarts = 0

    def start(self) -> None:
        if self.workers > 0:
            self._pool = self._new_pool()
            # start the workers now (spawn + imports take ~1 s), not on the first request
            for f in [self._pool.submit(_ready) for _ in range(self.workers)]:
                f.result()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, never fork: the parent runs gRPC and DuckDB threads, which do not survive a fork
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm)

    def decode(self, body: bytes, fmt: str, source: str) -> Decoded:
        pool = self._pool
        if pool is None:
            return decode(body, fmt, source)
        try:
            ipc, rejected = pool.submit(_decode_ipc, body, fmt, source).result()
        except BrokenProcessPool:
            self._restart(pool)
            raise DecoderUnavailable("a decoder process died; retry later") from None
        except RuntimeError:  # submitted to a pool that another request just replaced
            raise DecoderUnavailable("the decoder pool is restarting; retry later") from None
        return pa.ipc.open_stream(ipc).read_all(), rejected

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                log.warning("an OTLP decoder process died; starting a new pool")
                self.pool_restarts += 1
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
