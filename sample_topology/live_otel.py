"""OpenTelemetry plumbing of the live simulator: one TracerProvider per service instance.

Spans go to an OTLP/HTTP endpoint (the OTLP receiver of `seamwatch up` / `collect --otlp`)
or, with a spans folder, to OTLP JSON lines that `seamwatch import` reads (the OTel
Collector file exporter's format: hex ids, int64 as strings).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids(node: Any) -> Any:
    """protobuf's JSON mapping writes bytes as base64; OTLP JSON wants hex ids."""
    import base64

    if isinstance(node, dict):
        return {k: (base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_hex_ids(v) for v in node]
    return node


class JsonLinesExporter(SpanExporter):
    """Appends each export as one OTLP JSON line (TracesData) to a file; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        doc = _hex_ids(MessageToDict(encode_spans(spans)))
        line = json.dumps(doc, separators=(",", ":"))
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Shared(SpanExporter):
    """One provider's handle on the shared exporter: its shutdown leaves the exporter to the others."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export(spans)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        pass


class Telemetry:
    """Tracer providers per (service, instance), all feeding one exporter."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self._providers: dict[tuple[str, str], TracerProvider] = {}
        self._lock = threading.Lock()

    @classmethod
    def to_otlp(cls, endpoint: str) -> Telemetry:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        return cls(OTLPSpanExporter(endpoint=url))

    @classmethod
    def to_dir(cls, folder: str | Path) -> Telemetry:
        return cls(JsonLinesExporter(Path(folder) / "spans.otlp.jsonl"))

    def tracer(self, service: str, instance: str) -> Any:
        with self._lock:
            provider = self._providers.get((service, instance))
            if provider is None:
                provider = TracerProvider(resource=Resource.create(
                    {"service.name": service, "service.instance.id": instance}))
                provider.add_span_processor(BatchSpanProcessor(_Shared(self.exporter), schedule_delay_millis=500))
                self._providers[(service, instance)] = provider
        return provider.get_tracer("seamwatch.sample_topology.live")

    def shutdown(self) -> None:
        """Flush every provider's spans (call once, at the end)."""
        for provider in self._providers.values():
            provider.force_flush()
        for provider in self._providers.values():
            provider.shutdown()
        self.exporter.shutdown()  # once, after every provider has handed over its last spans
