"""OTLP/HTTP served by uvicorn (HTTP/1.1 parsed by h11) on its own event loop in a background thread.

uvicorn does the HTTP: request parsing, framing (h11 refuses conflicting Content-Length values),
keep-alive, flow control (it stops reading a body the app has not asked for yet). Three things
it does not do are added to its h11 protocol here, each a few lines:

- a whole-request deadline that covers the headers too (uvicorn times out idle keep-alive
  connections only, so a client sending its headers one byte at a time would stay forever);
- a connection cap answered with a well-formed 429 and Retry-After (uvicorn's own answers 503);
- one debug line for a client that leaves in the middle of a request.

The OTLP semantics are the ASGI app's (collectors.otlp.http_app).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from collectors.otlp.http_app import (
    DEADLINE_EXCEEDED,
    JSON,
    REQUEST_INFO,
    SOURCE,
    OtlpHttpApp,
    RequestInfo,
    status_body,
    timeout_message,
)
from collectors.otlp.ingest import Ingest, Result

log = logging.getLogger(__name__)

# an idle kept-alive connection is closed after this; exporters send every few seconds (5 s for
# the SDKs' batch processors), so a shorter one would race their next request
KEEP_ALIVE_SECONDS = 30
# threads that decompress and decode, besides decoder processes: decoding holds the GIL, so more
# threads would not decode faster; a few keep a small request from waiting behind a big one
DECODE_THREADS = 4
_BACKLOG = 1024

# uvicorn's protocol logs one context-free warning per malformed request; we log one line with
# the peer and the reason instead, and keep uvicorn's errors
_uvicorn_log = logging.getLogger(__name__ + ".uvicorn")
_uvicorn_log.addFilter(lambda record: record.levelno >= logging.ERROR)


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the deadline, the cap and the disconnect line (see the module)."""

    # set on a per-receiver subclass
    ingest: Ingest
    max_connections: int
    request_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _uvicorn_log
        self._timer: Any = None
        self._deadline = 0.0
        self._over_cap = False
        self._partial = False  # bytes of a request not answered yet have arrived
        self._closing = False  # we close the connection ourselves: not a client leaving
        self._parse_error = ""
        next_event = self.conn.next_event

        def next_event_noting_errors() -> Any:  # uvicorn drops h11's reason; the 400 answer names it
            try:
                return next_event()
            except h11.RemoteProtocolError as exc:
                self._parse_error = str(exc)
                raise

        self.conn.next_event = next_event_noting_errors  # type: ignore[method-assign]

    @property
    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"

    # -- the deadline ---------------------------------------------------------------
    def _arm(self) -> None:
        self._deadline = self.loop.time() + self.request_timeout
        self._timer = self.loop.call_at(self._deadline, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        cycle = self.cycle
        if self.transport.is_closing() or (cycle is not None and not cycle.response_complete):
            return  # the app has the request: it watches the same deadline and answers itself
        if self._partial:  # headers not complete in time
            message = timeout_message(self.request_timeout)
            self.ingest.refuse(Result.BAD_REQUEST, message, source=SOURCE, location=self._peer, raw=None)
            self._write_and_close(408, status_body(DEADLINE_EXCEEDED, message, as_json=True))
        else:  # connected and said nothing
            self._closing = True
            self.transport.close()

    def _write_and_close(self, status: int, body: bytes) -> None:
        """A whole answer written as is: h11 has no request to answer when the headers never came."""
        self._closing = True
        phrase = {400: b"Bad Request", 408: b"Request Timeout"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                             % (status, phrase, JSON.encode(), len(body)) + body)
        self.transport.close()

    # -- uvicorn's hooks ------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._over_cap = len(self.connections) > self.max_connections
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._timer is None:  # the first bytes of the next request on a kept-alive connection
            self._arm()
        self._partial = True
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A new request's task is created but has not run yet: hand it its deadline and cap
            extensions = cycle.scope.setdefault("extensions", {})  # type: ignore[typeddict-item]
            if REQUEST_INFO not in extensions:
                if self._timer is None:  # a pipelined request: its deadline starts now
                    self._arm()
                extensions[REQUEST_INFO] = RequestInfo(self._deadline, self._over_cap)

    def on_response_complete(self) -> None:
        self._disarm()
        self._partial = False
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        message = f"malformed HTTP framing or headers: {self._parse_error or msg}"
        self.ingest.refuse(Result.BAD_REQUEST, message, source=SOURCE, location=self._peer, raw=None)
        self._write_and_close(400, status_body(3, message, as_json=True))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        cycle = self.cycle
        if not self._closing:
            if cycle is not None and not cycle.response_complete:
                log.debug("%s client %s went away before its request was answered", SOURCE, self._peer)
            elif self._partial:
                log.debug("%s client %s went away in the middle of a request's headers", SOURCE, self._peer)
            elif exc is not None:
                log.debug("%s client %s reset the connection: %s", SOURCE, self._peer, exc)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.more_body:
            self._closing = True  # a body still arriving is not waited for: stopping stays prompt
            self.transport.close()
            return
        super().shutdown()


class HttpReceiver:
    """Serves OTLP/HTTP with uvicorn on a background thread (its own event loop)."""

    def __init__(self, address: tuple[str, int], ingest: Ingest, *, max_connections: int,
                 request_timeout: float = 30.0) -> None:
        self._sock = _listen(address)  # binds now: a busy port fails at start
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._executor = ThreadPoolExecutor(DECODE_THREADS + ingest.decoder.workers, thread_name_prefix="otlp-http")
        protocol = type("OtlpHttpProtocol", (_Protocol,), {
            "ingest": ingest, "max_connections": max_connections, "request_timeout": request_timeout})
        config = uvicorn.Config(
            OtlpHttpApp(ingest, self._executor, request_timeout=request_timeout),
            http=protocol, ws="none", lifespan="off", interface="asgi3", loop="asyncio",
            log_config=None, access_log=False, proxy_headers=False, server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="otlp-http", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:  # the socket listens already; this only catches a failed start
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the OTLP/HTTP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(10)
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._sock.close()


def _listen(address: tuple[str, int]) -> socket.socket:
    host, port = address
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart rebinds at once
        sock.bind((host, port))
        sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
