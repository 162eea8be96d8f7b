"""OTLP/HTTP as an ASGI app: `POST /v1/traces`, protobuf or JSON, gzip, deflate or neither, answered in the request's type.

The app owns the OTLP semantics (paths, content types, the body cap, the in-flight budget, the
answers); uvicorn owns HTTP (parsing, framing, keep-alive). Bytes are reserved against the
in-flight budget as they arrive, so a client that announces a big body and sends it slowly holds
nothing it has not sent. Decompressing and decoding run on a thread pool: the event loop only
moves bytes, and never waits on the GIL-bound work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collectors.otlp.ingest import BodyTooLarge, Ingest, Outcome, Result, gunzip, inflate, unzstd

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SOURCE = "otlp-http"
RETRY_AFTER_SECONDS = 1
# refused bodies up to this size are read (and dropped) before answering, so the client can read
# the answer: closing on unread bytes resets the connection. Bigger ones get the answer and a close.
DRAIN_LIMIT = 256 * 1024 * 1024
# the scope extension through which the HTTP protocol hands each request its connection's facts
REQUEST_INFO = "seamwatch.request"

_HTTP_STATUS = {
    Result.OK: 200, Result.PARTIAL: 200, Result.BAD_REQUEST: 400, Result.TOO_LARGE: 413,
    Result.UNSUPPORTED: 415, Result.OVERLOADED: 503, Result.BUSY: 429,
}
# google.rpc.Code of the Status body sent with each error
_RPC_CODE = {Result.BAD_REQUEST: 3, Result.TOO_LARGE: 8, Result.UNSUPPORTED: 3, Result.OVERLOADED: 14,
             Result.BUSY: 8}
DEADLINE_EXCEEDED = 4  # google.rpc.Code of a 408

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# Content-Encoding → decompressor (each bounded by the body cap): the OTLP spec names gzip; the
# OpenTelemetry SDKs also send deflate (OTEL_EXPORTER_OTLP_COMPRESSION=deflate in Python's), the
# Collector's otlphttp exporter zstd
DECOMPRESS = {"gzip": gunzip, "deflate": inflate, "zstd": unzstd}


@dataclass(frozen=True)
class RequestInfo:
    """What the connection knows about a request before the app sees it."""

    deadline: float  # event-loop time by which the whole request (headers and body) must have arrived
    over_cap: bool = False  # the connection is over the connection cap: answer 429 and close


def status_body(code: int, message: str, *, as_json: bool) -> bytes:
    """A google.rpc.Status, the body of every OTLP/HTTP error answer, in JSON or protobuf."""
    if as_json:
        return json.dumps({"code": code, "message": message}).encode()
    return Status(code=code, message=message).SerializeToString()


def timeout_message(seconds: float) -> str:
    return f"the request was not received within {seconds:g} s"


class _Gone(Exception):
    """The client disconnected; nothing to answer."""


class _Late(Exception):
    """The request's deadline passed before its body arrived."""


class OtlpHttpApp:
    """The ASGI application; ``executor`` runs decompressing and decoding off the event loop."""

    def __init__(self, ingest: Ingest, executor: Executor, *, request_timeout: float) -> None:
        self.ingest = ingest
        self.executor = executor
        self.request_timeout = request_timeout

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off and websockets are refused by the server
            return
        info = scope.get("extensions", {}).get(REQUEST_INFO) or RequestInfo(
            asyncio.get_running_loop().time() + self.request_timeout)
        request = _Request(scope, receive, send, info)
        try:
            await self._serve(request)
        except _Gone:
            pass  # the protocol logs the disconnect, once
        except _Late:
            await request.answer_late(self.request_timeout)
        except Exception as exc:  # a bug costs one request and one line, never the server or a traceback
            log.error("%s request from %s failed: %r", SOURCE, request.location, exc)
            if not request.started:
                request.close = True
                as_json = request.ctype != PROTOBUF
                await request.send_raw(500, JSON if as_json else PROTOBUF,
                                       status_body(13, "internal error", as_json=as_json))
        finally:
            self.ingest.release(request.held)

    async def _serve(self, r: _Request) -> None:
        ingest = self.ingest
        if r.info.over_cap:  # too many connections: read the request (holding nothing), answer, close
            await r.discard()
            r.close = True
            await r.answer(self._refuse(r, Result.BUSY, "too many connections; retry later"))
            return
        if r.header(b"content-length") is not None and r.header(b"transfer-encoding") is not None:
            # RFC 9112 §6.3: a request smuggling vector. Where it ends is ambiguous: do not read on.
            r.close = True
            await r.answer(self._refuse(r, Result.BAD_REQUEST, "ambiguous framing: both Content-Length and "
                                        "Transfer-Encoding"), as_json=r.ctype != PROTOBUF)
            return
        if r.scope["path"] != "/v1/traces":
            await r.discard()
            await r.send_raw(404, JSON, status_body(5, "only /v1/traces is served", as_json=True))
            return
        if r.scope["method"] != "POST":
            await r.discard()
            await r.send_raw(405, JSON, status_body(3, "only POST is served", as_json=True), [(b"allow", b"POST")])
            return
        fmt = "json" if r.ctype == JSON else "proto" if r.ctype == PROTOBUF else None
        if fmt is None:
            await r.discard()
            await r.answer(self._refuse(r, Result.UNSUPPORTED, f"content type {r.ctype or '(none)'!r} is not "
                                        f"{PROTOBUF} or {JSON}"), as_json=True)
            return
        encoding = (r.header(b"content-encoding") or "identity").strip().lower()
        if encoding not in ("identity", *DECOMPRESS):
            await r.discard()
            await r.answer(self._refuse(r, Result.UNSUPPORTED, f"content encoding {encoding!r} is not "
                                                                       f"{', '.join(DECOMPRESS)} or identity"))
            return
        body = await self._read_body(r)
        if body is None:
            return
        loop = asyncio.get_running_loop()
        if encoding != "identity":
            try:
                body = await loop.run_in_executor(self.executor, DECOMPRESS[encoding], body, ingest.max_body_bytes)
            except BodyTooLarge as exc:
                await r.answer(self._refuse(r, Result.TOO_LARGE, str(exc)))
                return
            except ValueError as exc:
                await r.answer(self._refuse(r, Result.BAD_REQUEST, str(exc)))
                return
            if not ingest.reserve(len(body), held=r.held):  # the decompressed body is held too
                await r.answer(self._refuse(r, Result.BUSY, "too many requests at once; retry later"))
                return
            r.held += len(body)
        outcome = await loop.run_in_executor(self.executor, self._export, body, fmt, r.location)
        await r.answer(outcome)

    def _export(self, body: bytes, fmt: str, location: str) -> Outcome:
        return self.ingest.export(body, fmt=fmt, source=SOURCE, location=location)

    async def _read_body(self, r: _Request) -> bytes | None:
        """The whole body, each piece reserved as it arrives; None when already answered."""
        ingest, limit = self.ingest, self.ingest.max_body_bytes
        length = r.header(b"content-length")
        if length is not None and int(length) > limit:  # the HTTP parser has checked it is a number
            await r.discard()
            await r.answer(self._refuse(r, Result.TOO_LARGE, f"body of {length} bytes is larger than {limit} bytes"))
            return None
        parts: list[bytes] = []
        size = 0
        more = True
        while more:
            chunk, more = await r.next_chunk()
            size += len(chunk)
            if size > limit:
                await self._drop(r, parts)
                await r.answer(self._refuse(r, Result.TOO_LARGE, f"body is larger than {limit} bytes"))
                return None
            if chunk and not ingest.reserve(len(chunk), held=r.held):
                await self._drop(r, parts)
                await r.answer(self._refuse(r, Result.BUSY, "too many requests at once; retry later"))
                return None
            r.held += len(chunk)
            if chunk:
                parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _drop(self, r: _Request, parts: list[bytes]) -> None:
        """Give back what a refused body holds, and read the rest of it without holding it."""
        parts.clear()
        self.ingest.release(r.held)
        r.held = 0
        await r.discard()

    def _refuse(self, r: _Request, result: Result, message: str) -> Outcome:
        return self.ingest.refuse(result, message, source=SOURCE, location=r.location, raw=None)


class _Request:
    """One request's state: its headers, what it holds of the budget, and how to answer it."""

    def __init__(self, scope: dict[str, Any], receive: Receive, send: Send, info: RequestInfo) -> None:
        self.scope, self.receive, self._send, self.info = scope, receive, send, info
        self.headers = dict(scope["headers"])  # names are lower-case; for framing headers h11 has merged repeats
        self.ctype = (self.header(b"content-type") or "").split(";", 1)[0].strip().lower()
        client = scope.get("client") or ("?", 0)
        self.location = f"{client[0]}:{client[1]}"
        self.held = 0  # bytes reserved against the in-flight budget
        self.close = False  # answer with Connection: close
        self.done = False  # the body has been read to its end
        self.started = False  # the answer has begun

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")

    async def next_chunk(self) -> tuple[bytes, bool]:
        """The next piece of the body and whether more follows; raises _Gone or _Late."""
        try:
            async with asyncio.timeout_at(self.info.deadline):
                message = await self.receive()
        except TimeoutError:
            raise _Late from None
        if message["type"] == "http.disconnect":
            raise _Gone
        more = bool(message.get("more_body", False))
        self.done = not more
        return message.get("body", b""), more

    async def discard(self) -> None:
        """Read the rest of the body and drop it, so that the client can read the answer."""
        read = 0
        while not self.done:
            chunk, _ = await self.next_chunk()
            read += len(chunk)
            if read > DRAIN_LIMIT:
                self.close = True
                return

    async def answer(self, outcome: Outcome, *, as_json: bool | None = None) -> None:
        """Send the OTLP answer of ``outcome``, in the request's encoding unless ``as_json`` says."""
        as_json = self.ctype == JSON if as_json is None else as_json
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
            body = status_body(_RPC_CODE[result], outcome.message, as_json=as_json)
        extra = [(b"retry-after", b"%d" % RETRY_AFTER_SECONDS)] if result in (Result.OVERLOADED, Result.BUSY) else []
        await self.send_raw(_HTTP_STATUS[result], JSON if as_json else PROTOBUF, body, extra)

    async def answer_late(self, timeout: float) -> None:
        message = timeout_message(timeout)
        log.info("%s request from %s refused: %s", SOURCE, self.location, message)
        self.close = True  # the rest of a late body is not waited for
        as_json = self.ctype != PROTOBUF
        await self.send_raw(408, JSON if as_json else PROTOBUF,
                            status_body(DEADLINE_EXCEEDED, message, as_json=as_json))

    async def send_raw(self, status: int, ctype: str, body: bytes,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = [(b"content-type", ctype.encode()), (b"content-length", b"%d" % len(body)), *(extra or [])]
        if self.close or not self.done and status != 200:
            headers.append((b"connection", b"close"))
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
