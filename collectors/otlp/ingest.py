"""One export request, whatever the transport: body → rows → writer queue → an outcome to answer with.

The HTTP and gRPC servers only move bytes; they map an :class:`Outcome` to their status codes.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from collectors.model import error_row
from collectors.otlp.decode import Decoder, DecoderUnavailable
from collectors.otlp.writer import BatchWriter

log = logging.getLogger(__name__)

# ingest-error rows written for one request; the rest are summed up in one more row
MAX_ERROR_ROWS_PER_REQUEST = 20


class Result(Enum):
    OK = "ok"  # every span queued (200 / OK)
    PARTIAL = "partial"  # some spans rejected (200 with partial_success)
    BAD_REQUEST = "bad_request"  # 400 / INVALID_ARGUMENT
    TOO_LARGE = "too_large"  # 413 / RESOURCE_EXHAUSTED
    UNSUPPORTED = "unsupported"  # 415
    OVERLOADED = "overloaded"  # 503 + Retry-After / UNAVAILABLE
    BUSY = "busy"  # too many requests at once: 429 + Retry-After / RESOURCE_EXHAUSTED


@dataclass(frozen=True)
class Outcome:
    result: Result
    message: str = ""
    accepted: int = 0
    rejected: int = 0


class BodyTooLarge(ValueError):
    pass


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress every member of a gzip body, refusing to produce more than ``limit`` bytes in all.

    A gzip stream may hold several members (RFC 1952 §2.2; curl and some proxies send them), and
    they make one body: decoding the first alone would store part of a request answered 200.
    Anything after the last member that is not gzip makes the whole body invalid. Input is fed in
    chunks that start small and double, so that a body of a million tiny members costs time in
    proportion to its size (each member's leftover input is copied once, not the whole rest).
    """
    view = memoryview(body)
    pieces: list[bytes] = []
    size = pos = 0
    while True:  # one member per round
        if view[pos:pos + 2] != _GZIP_MAGIC:
            if pos == 0:
                raise ValueError("body is not valid gzip: no gzip header")
            raise ValueError(f"body is not valid gzip: {len(view) - pos} bytes after the gzip stream are not gzip")
        pos, size = _stream(zlib.decompressobj(wbits=31), view, pos, pieces, size, limit, "gzip")
        if pos == len(view):
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def inflate(body: bytes, limit: int) -> bytes:
    """Decompress a deflate body, refusing to produce more than ``limit`` bytes: HTTP's deflate is
    zlib's format (RFC 1950, what the OpenTelemetry SDKs send); a raw deflate stream (RFC 1951,
    what some clients send under the same name) is taken too."""
    view = memoryview(body)
    wrapped = len(view) >= 2 and view[0] & 0x0F == 8 and int.from_bytes(view[:2], "big") % 31 == 0
    pieces: list[bytes] = []
    pos, _ = _stream(zlib.decompressobj(wbits=15 if wrapped else -15), view, 0, pieces, 0, limit, "deflate")
    if pos != len(view):
        raise ValueError(f"body is not valid deflate: {len(view) - pos} bytes after the stream")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def unzstd(body: bytes, limit: int) -> bytes:
    """Decompress every frame of a zstd body (RFC 8878; the OpenTelemetry Collector's otlphttp
    exporter sends it with ``compression: zstd``), refusing to produce more than ``limit`` bytes.
    Several frames make one body, as gzip's members do; bytes after the last frame that are not
    a frame make it invalid, and so does a frame cut short."""
    import zstandard

    view = memoryview(body)
    if not view:
        raise ValueError("body is not valid zstd: empty")
    pieces: list[bytes] = []
    size = pos = 0
    while pos < len(view):
        pos, size = _stream(zstandard.ZstdDecompressor().decompressobj(), view, pos, pieces, size, limit, "zstd",
                            capped=False, errors=zstandard.ZstdError)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


# the most output one byte of a zstd frame can make (a 4-byte RLE block makes 128 KiB), with margin:
# zstd's decompressor takes no output cap, so its input is fed in pieces small enough that none
# can take the output more than one small piece's worth past the limit
ZSTD_MAX_RATIO = 1 << 16


def _stream(d: Any, view: memoryview, pos: int, pieces: list[bytes], size: int, limit: int,
            what: str, *, capped: bool = True, errors: type[Exception] = zlib.error) -> tuple[int, int]:
    """Decompress one stream starting at ``pos`` into ``pieces``, which hold ``size`` bytes already
    (``limit`` bounds them all); returns where the input after it starts, and the new size.
    ``capped``: ``d.decompress`` takes an output cap (zlib's); otherwise the feed is sized to the room left."""
    feed = 256
    while not d.eof:
        if pos >= len(view):
            raise ValueError(f"body is not valid {what}: truncated stream")
        chunk = view[pos:pos + feed]
        pos += len(chunk)
        feed = min(feed * 2, 1 << 20) if capped else max(256, min(1 << 20, (limit - size) // ZSTD_MAX_RATIO))
        try:
            # the output cap stops a zip bomb early
            piece = d.decompress(chunk, limit + 1 - size) if capped else d.decompress(chunk)
        except errors as exc:
            raise ValueError(f"body is not valid {what}: {exc}") from None
        size += len(piece)
        if size > limit:
            raise BodyTooLarge(f"body is larger than {limit} bytes once decompressed")
        pieces.append(piece)
    return pos - len(d.unused_data), size


_GZIP_MAGIC = b"\x1f\x8b"


class Ingest:
    """Decodes requests into the writer's queue and keeps the counters the dashboard shows."""

    def __init__(self, writer: BatchWriter, *, max_body_bytes: int, decoder: Decoder | None = None,
                 max_inflight_bytes: int = 1 << 62) -> None:
        self.writer = writer
        self.decoder = decoder or Decoder(0)
        self.max_body_bytes = max_body_bytes
        self.max_inflight_bytes = max_inflight_bytes
        self._inflight = 0
        self._lock = threading.Lock()
        self.counters: dict[str, int] = {
            "requests": 0, "spans_accepted": 0, "spans_rejected": 0,
            **{f"requests_{r.value}": 0 for r in Result},
        }

    def reserve(self, nbytes: int, *, held: int = 0) -> bool:
        """Claim room for ``nbytes`` more of a body, as they arrive; False when too much is held already.

        ``held`` is what the same request holds already. A request is always let in when nothing
        else is held, so one big body cannot starve.
        """
        with self._lock:
            if self._inflight > held and self._inflight + nbytes > self.max_inflight_bytes:
                return False
            self._inflight += nbytes
            return True

    def release(self, nbytes: int) -> None:
        with self._lock:
            self._inflight -= nbytes

    def count(self, outcome: Outcome) -> Outcome:
        with self._lock:
            c = self.counters
            c["requests"] += 1
            c[f"requests_{outcome.result.value}"] += 1
            c["spans_accepted"] += outcome.accepted
            c["spans_rejected"] += outcome.rejected
        return outcome

    def refuse(self, result: Result, message: str, *, source: str, location: str, raw: bytes | str | None) -> Outcome:
        """Answer without decoding (bad content type, oversize, bad gzip, overload); log and record why."""
        if result not in (Result.OVERLOADED, Result.BUSY):  # load is counted, not written: writing is the bottleneck
            log.info("%s request from %s refused: %s", source, location, message)
            self.writer.offer_errors([error_row(source, location, message, raw, _now_us())])
        return self.count(Outcome(result, message))

    def export(self, body: bytes, *, fmt: str, source: str, location: str) -> Outcome:
        """Decode a whole (decompressed) body in format "proto" or "json" and queue its rows."""
        if len(body) > self.max_body_bytes:
            return self.refuse(Result.TOO_LARGE, f"body is larger than {self.max_body_bytes} bytes",
                               source=source, location=location, raw=body[:256])
        if self.writer.full():
            return self.refuse(Result.OVERLOADED, self._why_full(), source=source, location=location, raw=None)
        try:
            table, rejected = self.decoder.decode(body, fmt, source)
        except DecoderUnavailable as exc:
            return self.count(Outcome(Result.OVERLOADED, str(exc)))
        except ValueError as exc:
            return self.refuse(Result.BAD_REQUEST, str(exc), source=source, location=location, raw=_excerpt(body, fmt))
        except Exception as exc:  # any other shape of garbage (a list where an object goes...) is a bad request too
            return self.refuse(Result.BAD_REQUEST, f"not OTLP trace data: {exc!r}"[:300],
                               source=source, location=location, raw=_excerpt(body, fmt))
        errors = _error_rows(rejected, source, location)
        if not self.writer.offer(table, errors):
            return self.count(Outcome(Result.OVERLOADED, self._why_full()))
        n = table.num_rows
        if rejected:
            message = f"{len(rejected)} of {n + len(rejected)} spans rejected; first: {rejected[0][0]}"
            return self.count(Outcome(Result.PARTIAL, message, accepted=n, rejected=len(rejected)))
        return self.count(Outcome(Result.OK, accepted=n))

    def _why_full(self) -> str:
        # the reason names a path of this machine: it goes to the log, not to the network
        if self.writer.failing:
            return "the receiver cannot write to its store right now; retry later"
        return "the write queue is full; retry later"

    def status(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.counters)


def _excerpt(body: bytes, fmt: str) -> str:
    """What to keep of a body that does not decode: JSON as text, protobuf as hex (it is binary)."""
    if fmt == "json":
        return body[:1024].decode("utf-8", "replace")
    return "hex:" + body[:400].hex()


def _error_rows(rejected: list[tuple[str, str]], source: str, location: str) -> list[dict[str, Any]]:
    if not rejected:
        return []
    now = _now_us()
    rows = [error_row(source, location, reason, excerpt, now) for reason, excerpt in rejected[:MAX_ERROR_ROWS_PER_REQUEST]]
    if len(rejected) > MAX_ERROR_ROWS_PER_REQUEST:
        rows.append(error_row(source, location, f"{len(rejected) - MAX_ERROR_ROWS_PER_REQUEST} more spans "
                                                f"of this request rejected", None, now))
    return rows


def _now_us() -> int:
    return int(time.time() * 1_000_000)
