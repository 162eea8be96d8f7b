"""OTLP trace receiver: OTLP/HTTP and OTLP/gRPC into the store through one bounded writer."""

from collectors.otlp.config import OtlpConfig, parse_address
from collectors.otlp.receiver import OtlpReceiver

__all__ = ["OtlpConfig", "OtlpReceiver", "parse_address"]
