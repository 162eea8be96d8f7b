"""Body → Arrow table of spans, in this process or in a pool of decoder processes.

Protobuf bodies are decoded in Rust without the GIL (collectors.normalize.otlp_native) when the
native module is built; a request it cannot reproduce exactly goes to the Python decoder, the
reference, as do JSON bodies. Python decoding holds the GIL: one process tops out near one core. A small pool of spawned processes decodes
in parallel and sends back Arrow IPC, which the parent only maps; the store's append runs
outside the GIL anyway. That raises the ceiling when cores are idle, but costs a few µs of
CPU per span more and depends on the workers being scheduled: on a busy machine in-process
(``workers=0``, the default) stores more. `seamwatch bench otlp` measures both.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from collectors.model import SPAN_SCHEMA, table_from_tuples, to_table_or_reject
from collectors.normalize import jsonkeys, otlp_native
from collectors.normalize.otlp_json import spans_from_json
from collectors.normalize.otlp_limits import Limits, check_json_size, screen_json, screen_proto
from collectors.normalize.otlp_proto import span_values_from_proto
from collectors.normalize.spans import SPAN_COLUMNS

log = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits()
Decoded = tuple[pa.Table, list[tuple[str, str]]]  # spans, and (reason, excerpt) of each rejected span


class DecoderUnavailable(RuntimeError):
    """The decoder pool broke (a worker died); the request may be retried."""


def decode(body: bytes, fmt: str, source: str, limits: Limits = DEFAULT_LIMITS) -> Decoded:
    """Decode a whole request; raises ValueError (or subclasses) when it is not OTLP at all.

    Spans over a cap of ``limits`` are rejected (with the reason) before they are decoded.
    """
    if fmt == "json":
        check_json_size(body, limits)
        doc = _json_object(body)
        over = screen_json(doc, limits)
        rows, rejected = spans_from_json(doc, source=source)
        rejected = over + rejected
        return _table(rows, rejected), rejected
    if otlp_native.chosen() == "native":
        table = otlp_native.span_table(body, source, limits)
        if table is not None:  # every span decoded, none over a cap: nothing rejected
            return table, []
    body, over = screen_proto(body, limits)
    values, rejected = span_values_from_proto(body, source=source)
    rejected = over + rejected
    try:
        return table_from_tuples(values, SPAN_SCHEMA), rejected
    except (ValueError, TypeError, OverflowError):  # a row Arrow refuses: find it below
        rows = [dict(zip(SPAN_COLUMNS, v, strict=True)) for v in values]
    return _table(rows, rejected), rejected


def _json_object(body: bytes) -> Any:
    try:
        doc = jsonkeys.loads(body)  # a repeated name keeps its first value, as everywhere in Seamwatch
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("body is not a JSON object: not OTLP trace data")
    return doc


def _table(rows: list[dict[str, Any]], rejected: list[tuple[str, str]]) -> pa.Table:
    """Arrow table of the rows; a row Arrow refuses joins ``rejected`` instead of sinking the request."""
    return to_table_or_reject(rows, SPAN_SCHEMA, lambda row, exc: rejected.append(
        (f"span does not fit the store: {exc}", repr(row)[:1024])))


def _decode_ipc(body: bytes, fmt: str, source: str, limits: Limits) -> tuple[bytes, list[tuple[str, str]]]:
    """Worker side: decode and return the table as Arrow IPC stream bytes."""
    table, rejected = decode(body, fmt, source, limits)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), rejected


def _serve(conn: Connection) -> None:
    """A decoder process: (fmt, source) then the body in; the Arrow IPC bytes then an outcome out."""
    # Ctrl+C reaches the whole process group: the parent stops us after its final flush
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send("ready")
    while True:
        try:
            fmt, source, limits = conn.recv()
            body = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the parent closed the pipe: shut down
        try:
            ipc, rejected = _decode_ipc(body, fmt, source, limits)
        except ValueError as exc:
            conn.send_bytes(b"")
            conn.send(("bad", str(exc)))
        except Exception as exc:  # any other shape of garbage
            conn.send_bytes(b"")
            conn.send(("bad", f"not OTLP trace data: {exc!r}"[:300]))
        else:
            conn.send_bytes(ipc)
            conn.send(("ok", rejected))


class _Worker:
    """One decoder process and the parent's end of its pipe."""

    def __init__(self) -> None:
        # spawn, never fork: the parent runs gRPC and DuckDB threads, which do not survive a fork
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_serve, args=(child,), name="otlp-decoder", daemon=True)
        self.process.start()
        child.close()

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout) or self.conn.recv() != "ready":
            raise RuntimeError("an OTLP decoder process did not start")

    def close(self) -> None:
        self.conn.close()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2)


class Decoder:
    """Decodes in spawned decoder processes, one request at a time each, and in-process when none is idle.

    The request thread talks to an idle worker over its pipe directly: no executor threads in
    between, so a request costs two process wake-ups and nothing more. ``workers=0`` decodes
    everything in-process.
    """

    def __init__(self, workers: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self.workers = workers
        self.limits = limits
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._stopped = False
        self.pool_restarts = 0

    def start(self) -> None:
        self._stopped = False
        # start the workers now (spawn + imports take ~1 s), not on the first request
        workers = [_Worker() for _ in range(self.workers)]
        for w in workers:
            w.wait_ready(60)
            self._idle.put(w)
        self._all = workers

    def decode(self, body: bytes, fmt: str, source: str) -> Decoded:
        try:
            w = self._idle.get_nowait()
        except queue.Empty:
            # every worker is busy (or there are none): decode here rather than wait, so this
            # process's core keeps working too and a slow worker never holds a request up
            return decode(body, fmt, source, self.limits)
        try:
            w.conn.send((fmt, source, self.limits))
            w.conn.send_bytes(body)
            ipc = w.conn.recv_bytes()
            status, detail = w.conn.recv()
        except (EOFError, OSError):
            w = self._replace(w)
            raise DecoderUnavailable("a decoder process died; retry later") from None
        finally:
            if w is not None:
                self._idle.put(w)
        if status == "bad":
            raise ValueError(detail)
        return pa.ipc.open_stream(ipc).read_all(), detail

    def _replace(self, dead: _Worker) -> _Worker | None:
        if self._stopped:  # the pipe was closed by stop(), not by a crash
            return None
        log.warning("an OTLP decoder process died (exit code %s); starting another", dead.process.exitcode)
        dead.close()
        try:
            fresh = _Worker()
            fresh.wait_ready(60)
        except Exception:  # cannot start one now: serve with fewer workers rather than fail every request
            log.exception("starting an OTLP decoder process failed")
            return None
        with self._lock:
            self.pool_restarts += 1
            self._all = [fresh if x is dead else x for x in self._all]
        return fresh

    def stop(self) -> None:
        self._stopped = True
        for w in self._all:
            w.close()
        self._all = []
        self._idle = queue.Queue()
