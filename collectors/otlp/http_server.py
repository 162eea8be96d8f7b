"""OTLP/HTTP: `POST /v1/traces`, protobuf or JSON, gzip or not, answered in the request's content type.

The stdlib ThreadingHTTPServer is enough here: at 512 spans per request the receiver needs
~100 requests/s for 50k spans/s, and decoding, not HTTP, is the cost (see `seamwatch bench otlp`).
Connections are capped so threads, and the bodies they hold, stay bounded.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collectors.otlp.ingest import BodyTooLarge, Ingest, Outcome, Result, gunzip

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SOURCE = "otlp-http"
RETRY_AFTER_SECONDS = 1
# refused bodies up to this size are read (in small chunks, never held) before answering
_DRAIN_LIMIT = 256 * 1024 * 1024

_HTTP_STATUS = {
    Result.OK: 200, Result.PARTIAL: 200, Result.BAD_REQUEST: 400, Result.TOO_LARGE: 413,
    Result.UNSUPPORTED: 415, Result.OVERLOADED: 503, Result.BUSY: 429,
}
# google.rpc.Code of the Status body sent with each error
_RPC_CODE = {Result.BAD_REQUEST: 3, Result.TOO_LARGE: 8, Result.UNSUPPORTED: 3, Result.OVERLOADED: 14,
             Result.BUSY: 8}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ingest: Ingest
    max_connections: int

    def __init__(self, address: tuple[str, int], ingest: Ingest, max_connections: int) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ingest = ingest
        self.max_connections = max_connections
        self._active = 0
        self._active_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._active_lock:
            if self._active >= self.max_connections:
                busy = True
            else:
                busy = False
                self._active += 1
        if busy:  # answer right here, without a thread: too many clients at once
            try:
                request.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.ingest.count(Outcome(Result.BUSY, "too many connections"))
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    timeout = 30  # an idle keep-alive connection gives its thread back after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        ingest = self.server.ingest
        location = f"{self.client_address[0]}:{self.client_address[1]}"
        if self.path.split("?", 1)[0] != "/v1/traces":
            self._discard_body()
            self._send(404, JSON, b'{"code":5,"message":"only /v1/traces is served"}')
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        fmt = "json" if ctype == JSON else "proto" if ctype == PROTOBUF else None
        if fmt is None:
            self._discard_body()
            outcome = ingest.refuse(Result.UNSUPPORTED, f"content type {ctype or '(none)'!r} is not "
                                    f"{PROTOBUF} or {JSON}", source=SOURCE, location=location, raw=None)
            self._answer(outcome, JSON)
            return
        reserved = self._body_budget(ingest.max_body_bytes)
        if not ingest.reserve(reserved):
            self._discard_body()
            self._answer(ingest.refuse(Result.BUSY, "too many requests at once; retry later", source=SOURCE,
                                       location=location, raw=None), ctype)
            return
        held = [reserved]
        try:
            self._post(ingest, ctype, fmt, location, held)
        finally:
            ingest.release(sum(held))

    def _body_budget(self, limit: int) -> int:
        """Bytes the body holds as received: its Content-Length, or the cap when it comes chunked."""
        length = (self.headers.get("Content-Length") or "").strip()
        return min(int(length), limit) if length.isdigit() else limit

    def _post(self, ingest: Ingest, ctype: str, fmt: str, location: str, held: list[int]) -> None:
        try:
            body = self._read_body(ingest.max_body_bytes)
            encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding == "gzip":
                body = gunzip(body, ingest.max_body_bytes)
                if not ingest.reserve(len(body)):  # the decompressed body is held too
                    self._answer(ingest.refuse(Result.BUSY, "too many requests at once; retry later",
                                               source=SOURCE, location=location, raw=None), ctype)
                    return
                held.append(len(body))
            elif encoding != "identity":
                outcome = ingest.refuse(Result.UNSUPPORTED, f"content encoding {encoding!r} is not gzip",
                                        source=SOURCE, location=location, raw=None)
                self._answer(outcome, ctype)
                return
        except BodyTooLarge as exc:
            self._answer(ingest.refuse(Result.TOO_LARGE, str(exc), source=SOURCE, location=location, raw=None), ctype)
            return
        except ValueError as exc:
            self._answer(ingest.refuse(Result.BAD_REQUEST, str(exc), source=SOURCE, location=location,
                                       raw=None), ctype)
            return
        self._answer(ingest.export(body, fmt=fmt, source=SOURCE, location=location), ctype)

    # -- bodies --------------------------------------------------------------------
    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            raise ValueError("request has no Content-Length")
        n = int(length)
        if n > limit:
            self._drain(n)
            raise BodyTooLarge(f"body of {n} bytes is larger than {limit} bytes")
        body = self.rfile.read(n)
        if len(body) < n:
            self.close_connection = True
            raise ValueError(f"body ended after {len(body)} of {n} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(100)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ValueError("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True  # the rest of the stream is not read
                raise BodyTooLarge(f"body is larger than {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.strip().isdigit():
            self._drain(int(length))
        else:
            self.close_connection = True

    def _drain(self, n: int) -> None:
        """Read and drop a body we refuse, so the client can read our answer (closing early resets it)."""
        if n > _DRAIN_LIMIT:
            self.close_connection = True
            return
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                break
            n -= len(chunk)

    # -- answers -------------------------------------------------------------------
    def _answer(self, outcome: Outcome, ctype: str) -> None:
        as_json = ctype == JSON
        result = outcome.result
        if result in (Result.OK, Result.PARTIAL):
            partial = None
            if result is Result.PARTIAL:
                partial = ExportTracePartialSuccess(rejected_spans=outcome.rejected, error_message=outcome.message)
            if as_json:
                doc = {} if partial is None else {"partialSuccess": {
                    "rejectedSpans": str(outcome.rejected), "errorMessage": outcome.message}}
                body = json.dumps(doc).encode()
            else:
                body = ExportTraceServiceResponse(partial_success=partial).SerializeToString()
        else:
            code = _RPC_CODE[result]
            if as_json:
                body = json.dumps({"code": code, "message": outcome.message}).encode()
            else:
                body = Status(code=code, message=outcome.message).SerializeToString()
        extra = {"Retry-After": str(RETRY_AFTER_SECONDS)} if result in (Result.OVERLOADED, Result.BUSY) else {}
        self._send(_HTTP_STATUS[result], JSON if as_json else PROTOBUF, body, extra)

    def _send(self, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class HttpReceiver:
    """Serves OTLP/HTTP on a background thread."""

    def __init__(self, address: tuple[str, int], ingest: Ingest, *, max_connections: int) -> None:
        self._server = _Server(address, ingest, max_connections)  # binds now: a busy port fails at start
        self.address: tuple[str, int] = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="otlp-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
