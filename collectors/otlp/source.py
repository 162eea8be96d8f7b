"""The OTLP source: its options, and the receiver they build (collectors.sources)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from collectors.normalize.otlp_limits import Limits
from collectors.otlp.config import (
    DEFAULT_GRPC,
    DEFAULT_HTTP,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
    parse_size,
)
from collectors.runtime import Component
from collectors.sources import Kind, Option, register
from collectors.store import Store

# One option per amplification cap of collectors.normalize.otlp_limits: (field, highest value, help).
_LIMITS = [
    ("span_attributes", 4096, "Attributes of one span; a span with more is rejected (partial success)."),
    ("span_events", None, "Events of one span; a span with more is rejected (partial success)."),
    ("span_links", None, "Links of one span; a span with more is rejected (partial success)."),
    ("item_attributes", None, "Attributes of one event or link; its span is rejected past it."),
    ("resource_attributes", None, "Attributes of one resource; all its spans are rejected past it."),
    ("request_values", None, "Attribute values (nested ones too), events and links in one request; "
                             "the spans past it are rejected."),
]

OPTIONS = (
    Option("--otlp", "otlp", kind="flag", env="SEAMWATCH_OTLP",
           help=f"Receive OTLP traces: HTTP on {DEFAULT_HTTP} and gRPC on {DEFAULT_GRPC}."),
    Option("--otlp-http", "otlp_http", metavar="HOST:PORT", env="SEAMWATCH_OTLP_HTTP",
           help="Address of the OTLP/HTTP receiver (turns it on; loopback unless a host is given)."),
    Option("--otlp-grpc", "otlp_grpc", metavar="HOST:PORT", env="SEAMWATCH_OTLP_GRPC",
           help="Address of the OTLP/gRPC receiver (turns it on; loopback unless a host is given)."),
    Option("--otlp-max-body", "otlp_max_body", metavar="SIZE", default=f"{DEFAULT_MAX_BODY // 2**20}MiB",
           env="SEAMWATCH_OTLP_MAX_BODY", show_default=True,
           help="Largest OTLP request accepted, after decompression (bigger ones get 413)."),
    Option("--otlp-request-timeout", "otlp_request_timeout", metavar="SECONDS", kind="float", low=0.5, high=3600,
           default=DEFAULT_REQUEST_TIMEOUT, show_default=True, env="SEAMWATCH_OTLP_REQUEST_TIMEOUT",
           help="Time an OTLP/HTTP client has to send a whole request, headers and body "
                "(later: 408 and the connection is closed)."),
    Option("--otlp-queue-bytes", "otlp_queue_bytes", metavar="SIZE",
           default=f"{DEFAULT_MAX_QUEUE_BYTES // 2**20}MiB", env="SEAMWATCH_OTLP_QUEUE_BYTES", show_default=True,
           help="Spans held before they are written (Arrow bytes); past it requests get 503/UNAVAILABLE."),
    *[Option(f"--otlp-max-{name.replace('_', '-')}", f"otlp_max_{name}", kind="int", low=1, high=top,
             default=getattr(Limits(), name), show_default=True, env=f"SEAMWATCH_OTLP_MAX_{name.upper()}",
             help=help_text)
      for name, top, help_text in _LIMITS],
    Option("--otlp-decoders", "otlp_decoders", kind="int", low=0, high=32, default=0, show_default=True,
           env="SEAMWATCH_OTLP_DECODERS",
           help="Decoder processes; 0 decodes in the receiving threads (one core at most). "
                "More help when cores are idle: see 'seamwatch bench otlp'."),
)


class OtlpSource:
    name = "otlp"
    kind: Kind = "stream"
    switch = "--otlp"
    options = OPTIONS

    def build(self, store: Store, settings: Mapping[str, Any]) -> list[Component]:
        """The OTLP receiver when --otlp, --otlp-http or --otlp-grpc is given; nothing otherwise."""
        on = bool(settings["otlp"])
        http, grpc = settings["otlp_http"], settings["otlp_grpc"]
        if not (on or http or grpc):
            return []  # before the import: a Kafka-only collector loads neither gRPC, the HTTP server nor protobuf
        from collectors.otlp import OtlpConfig, OtlpReceiver, parse_address

        config = OtlpConfig(
            http=parse_address(http or DEFAULT_HTTP, what="--otlp-http") if (on or http) else None,
            grpc=parse_address(grpc or DEFAULT_GRPC, what="--otlp-grpc") if (on or grpc) else None,
            max_body_bytes=parse_size(str(settings["otlp_max_body"] or DEFAULT_MAX_BODY), what="--otlp-max-body"),
            max_queue_bytes=parse_size(str(settings["otlp_queue_bytes"] or DEFAULT_MAX_QUEUE_BYTES),
                                       what="--otlp-queue-bytes"),
            decode_workers=int(settings["otlp_decoders"]),
            request_timeout=float(settings["otlp_request_timeout"]),
            limits=Limits(**{f.name: int(settings[f"otlp_max_{f.name}"]) for f in fields(Limits)}),
        )
        return [OtlpReceiver(store, config)]


SOURCE = register(OtlpSource())
