"""OTLP trace receiver: OTLP/HTTP and OTLP/gRPC into the store through one bounded writer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.otlp.config import OtlpConfig, parse_address
    from collectors.otlp.receiver import OtlpReceiver

__all__ = ["OtlpConfig", "OtlpReceiver", "parse_address"]


def __getattr__(name: str) -> Any:
    # lazy: decoder processes import collectors.otlp.decode and should not pay for gRPC and HTTP
    if name == "OtlpReceiver":
        from collectors.otlp.receiver import OtlpReceiver

        return OtlpReceiver
    if name in ("OtlpConfig", "parse_address"):
        from collectors.otlp import config

        return getattr(config, name)
    raise AttributeError(name)
