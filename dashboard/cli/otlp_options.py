"""OTLP options of `seamwatch collect` (and `up`), and the receiver they build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import click

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
from collectors.store import Store

_OPTIONS = [
    click.option("--otlp", "otlp", is_flag=True, envvar="SEAMWATCH_OTLP", show_envvar=True,
                 help=f"Receive OTLP traces: HTTP on {DEFAULT_HTTP} and gRPC on {DEFAULT_GRPC}."),
    click.option("--otlp-http", "otlp_http", metavar="HOST:PORT", envvar="SEAMWATCH_OTLP_HTTP", show_envvar=True,
                 help="Address of the OTLP/HTTP receiver (turns it on; loopback unless a host is given)."),
    click.option("--otlp-grpc", "otlp_grpc", metavar="HOST:PORT", envvar="SEAMWATCH_OTLP_GRPC", show_envvar=True,
                 help="Address of the OTLP/gRPC receiver (turns it on; loopback unless a host is given)."),
    click.option("--otlp-max-body", "otlp_max_body", metavar="SIZE", default=f"{DEFAULT_MAX_BODY // 2**20}MiB",
                 envvar="SEAMWATCH_OTLP_MAX_BODY", show_envvar=True, show_default=True,
                 help="Largest OTLP request accepted, after decompression (bigger ones get 413)."),
    click.option("--otlp-request-timeout", "otlp_request_timeout", metavar="SECONDS",
                 type=click.FloatRange(0.5, 3600), default=DEFAULT_REQUEST_TIMEOUT, show_default=True,
                 envvar="SEAMWATCH_OTLP_REQUEST_TIMEOUT", show_envvar=True,
                 help="Time an OTLP/HTTP client has to send a whole request, headers and body "
                 "(later: 408 and the connection is closed)."),
    click.option("--otlp-queue-bytes", "otlp_queue_bytes", metavar="SIZE",
                 default=f"{DEFAULT_MAX_QUEUE_BYTES // 2**20}MiB", envvar="SEAMWATCH_OTLP_QUEUE_BYTES",
                 show_envvar=True, show_default=True,
                 help="Spans held before they are written (Arrow bytes); past it requests get 503/UNAVAILABLE."),
    *[click.option(f"--otlp-max-{name.replace('_', '-')}", f"otlp_max_{name}", type=click.IntRange(1, top),
                   default=getattr(Limits(), name), show_default=True, envvar=f"SEAMWATCH_OTLP_MAX_{name.upper()}",
                   show_envvar=True, help=help_text)
      for name, top, help_text in [
          ("span_attributes", 4096, "Attributes of one span; a span with more is rejected (partial success)."),
          ("span_events", None, "Events of one span; a span with more is rejected (partial success)."),
          ("span_links", None, "Links of one span; a span with more is rejected (partial success)."),
          ("item_attributes", None, "Attributes of one event or link; its span is rejected past it."),
          ("resource_attributes", None, "Attributes of one resource; all its spans are rejected past it."),
          ("request_values", None, "Attribute values (nested ones too), events and links in one request; "
                                   "the spans past it are rejected."),
      ]],
    click.option("--otlp-decoders", "otlp_decoders", type=click.IntRange(0, 32), default=0, show_default=True,
                 envvar="SEAMWATCH_OTLP_DECODERS", show_envvar=True,
                 help="Decoder processes; 0 decodes in the receiving threads (one core at most). "
                 "More help when cores are idle: see 'seamwatch bench otlp'."),
]


def otlp_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def build_otlp(store: Store, options: dict[str, Any]) -> list[Component]:
    """The OTLP receiver when --otlp, --otlp-http or --otlp-grpc is given; nothing otherwise."""
    from collectors.otlp import OtlpConfig, OtlpReceiver, parse_address

    on = bool(options.get("otlp"))
    http, grpc = options.get("otlp_http"), options.get("otlp_grpc")
    if not (on or http or grpc):
        return []
    config = OtlpConfig(
        http=parse_address(http or DEFAULT_HTTP, what="--otlp-http") if (on or http) else None,
        grpc=parse_address(grpc or DEFAULT_GRPC, what="--otlp-grpc") if (on or grpc) else None,
        max_body_bytes=parse_size(str(options.get("otlp_max_body") or DEFAULT_MAX_BODY), what="--otlp-max-body"),
        max_queue_bytes=parse_size(str(options.get("otlp_queue_bytes") or DEFAULT_MAX_QUEUE_BYTES),
                                   what="--otlp-queue-bytes"),
        decode_workers=int(options.get("otlp_decoders") or 0),
        request_timeout=float(options.get("otlp_request_timeout") or DEFAULT_REQUEST_TIMEOUT),
        limits=Limits(**{f.name: int(options.get(f"otlp_max_{f.name}") or getattr(Limits(), f.name))
                         for f in fields(Limits)}),
    )
    return [OtlpReceiver(store, config)]
