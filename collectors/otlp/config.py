"""Settings of the OTLP receiver, validated when built (argument > SEAMWATCH_* env > default)."""

from __future__ import annotations

from dataclasses import dataclass, field

from collectors.errors import ConfigError
from collectors.normalize.otlp_limits import Limits

DEFAULT_HTTP = "127.0.0.1:4318"
DEFAULT_GRPC = "127.0.0.1:4317"
# The OTel Collector's confighttp default; measured after decompression.
DEFAULT_MAX_BODY = 20 * 1024 * 1024
# An OTLP exporter gives up on a request after 10 s by default; 30 s leaves room for a big body
# on a slow link, and is how long a slow client can hold a connection.
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_QUEUE_BYTES = 256 * 1024 * 1024


def parse_address(text: str, *, what: str = "address") -> tuple[str, int]:
    """'HOST:PORT', '[v6]:PORT' or ':PORT' (loopback) → (host, port); port 0 picks a free one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{what} must look like HOST:PORT (for example 127.0.0.1:4318), not {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


_UNITS = {"": 1, "B": 1, "KB": 1000, "KIB": 1024, "MB": 1000**2, "MIB": 1024**2, "GB": 1000**3, "GIB": 1024**3}


def parse_size(text: str, *, what: str = "size") -> int:
    """'4194304', '4MiB', '20MB' → bytes."""
    raw = text.strip().upper().replace(" ", "")
    digits = raw.rstrip("KMGIB")
    unit = raw[len(digits):]
    if not digits.isdigit() or unit not in _UNITS:
        raise ConfigError(f"{what} must be a size like 20MiB or 4194304, not {text!r}")
    return int(digits) * _UNITS[unit]


@dataclass(frozen=True)
class OtlpConfig:
    """Where to listen and how much to hold. ``None`` turns a transport off."""

    http: tuple[str, int] | None = ("127.0.0.1", 4318)
    grpc: tuple[str, int] | None = ("127.0.0.1", 4317)
    max_body_bytes: int = DEFAULT_MAX_BODY
    # rows held in memory (queued and being written); past it requests get 503 / UNAVAILABLE
    max_pending_rows: int = 400_000
    # Arrow bytes of those rows: a few huge spans must not hold gigabytes under the row bound
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES
    flush_rows: int = 100_000
    flush_interval: float = 1.0
    # HTTP connections open at once; more get 429 + Retry-After and are closed. A connection costs
    # buffers (at most ~64 KiB of body it has not been asked for), not a thread; the cap leaves
    # room for exporters beside slow clients, whom the request deadline sends away.
    max_connections: int = 256
    # seconds a client has to send a whole request, headers and body; past it 408 and a close
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # request body bytes held at once (HTTP; reserved as they arrive, and a gzip body's
    # decompressed bytes count too): past it 429 + Retry-After. With the queue bound this is
    # what bounds memory.
    max_inflight_bytes: int = 96 * 1024 * 1024
    # gRPC calls at once per connection (HTTP/2 streams; more wait at the client)
    grpc_max_concurrent: int = 16
    # gRPC calls served at once, each holding its whole message (counted in max_inflight_bytes:
    # past it UNAVAILABLE with RetryInfo); more wait unread
    grpc_workers: int = 4
    # decoder processes (0: decode on the request threads). Decoding is the GIL-bound part, so
    # processes raise the ceiling when cores are idle; on a busy machine they cost more CPU per
    # span than they win (measured: `seamwatch bench otlp`), hence off unless asked for.
    decode_workers: int = 0
    # caps on events, links, attributes and values per span and per request (see otlp_limits)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.http is None and self.grpc is None:
            raise ConfigError("the OTLP receiver needs an HTTP or a gRPC address")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"the OTLP body cap must be at least 1024 bytes, not {self.max_body_bytes}")
        if self.max_queue_bytes < 1024 * 1024:
            raise ConfigError(f"the OTLP queue must hold at least 1MiB, not {self.max_queue_bytes} bytes")
        if self.flush_rows < 1 or self.max_pending_rows < self.flush_rows:
            raise ConfigError("max_pending_rows must be at least flush_rows, and both positive")
        if not 0.05 <= self.flush_interval <= 60:
            raise ConfigError(f"flush interval must be 0.05–60 s, not {self.flush_interval}")
        if not 0.5 <= self.request_timeout <= 3600:
            raise ConfigError(f"the OTLP request timeout must be 0.5–3600 s, not {self.request_timeout}")
        if min(self.max_connections, self.grpc_workers, self.grpc_max_concurrent, self.max_inflight_bytes) < 1 \
                or self.decode_workers < 0:
            raise ConfigError("max_connections and grpc_workers must be positive, decode_workers not negative")
