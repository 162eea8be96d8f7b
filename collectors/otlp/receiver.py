"""The OTLP receiver component: HTTP and/or gRPC servers feeding one bounded batch writer."""

from __future__ import annotations

import logging
from typing import Any

from collectors.errors import ConfigError
from collectors.otlp.config import OtlpConfig
from collectors.otlp.decode import Decoder
from collectors.otlp.grpc_server import GrpcReceiver
from collectors.otlp.http_server import HttpReceiver
from collectors.otlp.ingest import Ingest
from collectors.otlp.writer import BatchWriter
from collectors.status import OtlpStatus
from collectors.store import Store

log = logging.getLogger(__name__)


class OtlpReceiver:
    """collectors.runtime.Component receiving OTLP traces into the store.

    Nothing listens until :meth:`start`; :meth:`stop` stops listening, then writes
    everything still queued.
    """

    name = "otlp"

    def __init__(self, store: Store, config: OtlpConfig | None = None) -> None:
        self.store = store
        self.config = config or OtlpConfig()
        self.writer = BatchWriter(store, max_pending_rows=self.config.max_pending_rows,
                                  max_pending_bytes=self.config.max_queue_bytes,
                                  flush_rows=self.config.flush_rows, flush_interval=self.config.flush_interval)
        self.decoder = Decoder(self.config.decode_workers, self.config.limits)
        self.ingest = Ingest(self.writer, max_body_bytes=self.config.max_body_bytes, decoder=self.decoder,
                             max_inflight_bytes=self.config.max_inflight_bytes)
        self._http: HttpReceiver | None = None
        self._grpc: GrpcReceiver | None = None

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where OTLP/HTTP listens (the real port when 0 was asked for)."""
        return self._http.address if self._http else None

    @property
    def grpc_address(self) -> tuple[str, int] | None:
        return self._grpc.address if self._grpc else None

    def start(self) -> None:
        cfg = self.config
        self.writer.start()
        try:
            self.decoder.start()
            if cfg.http is not None:
                self._http = self._bind("HTTP", cfg.http, lambda: HttpReceiver(
                    cfg.http, self.ingest, max_connections=cfg.max_connections, request_timeout=cfg.request_timeout))
                self._http.start()
            if cfg.grpc is not None:
                self._grpc = self._bind("gRPC", cfg.grpc, lambda: GrpcReceiver(
                    cfg.grpc, self.ingest, workers=cfg.grpc_workers, max_concurrent=cfg.grpc_max_concurrent))
                self._grpc.start()
        except BaseException:
            self.stop()
            raise
        log.info("OTLP receiver listening: http=%s grpc=%s", self.http_address, self.grpc_address)

    @staticmethod
    def _bind(what: str, address: tuple[str, int], make: Any) -> Any:
        try:
            return make()
        except OSError as exc:
            host, port = address
            raise ConfigError(f"cannot listen for OTLP/{what} on {host}:{port} ({exc.strerror or exc}); "
                              f"choose another address with --otlp-{what.lower()}") from None

    def stop(self, timeout: float = 10.0) -> None:
        if self._http is not None:
            self._http.stop()
        if self._grpc is not None:
            self._grpc.stop(min(2.0, timeout))
        self.decoder.stop()
        self.writer.stop(timeout)

    def unsaved(self) -> str | None:
        """After stop(): one sentence when acknowledged spans could not be written, else None."""
        w = self.writer
        said = []
        if w.unwritten:
            said.append(f"{w.unwritten} OTLP spans answered 200/OK could not be written: "
                        f"{w.failing or 'the writer did not finish'}")
        if w.lost_spans:
            said.append(f"{w.lost_spans} OTLP spans answered 200/OK were refused by the store and given up: "
                        f"{w.lost_reason}")
        return "; ".join(said) or None

    def status(self) -> OtlpStatus:
        w = self.writer
        counters = self.ingest.status()
        return OtlpStatus(
            http=_addr(self.http_address),
            grpc=_addr(self.grpc_address),
            requests=counters["requests"],
            requests_by_result={k.removeprefix("requests_"): n for k, n in counters.items()
                                if k.startswith("requests_")},
            spans_accepted=counters["spans_accepted"],
            spans_rejected=counters["spans_rejected"],
            spans_written=w.spans_written,
            batches=w.batches,
            queued_rows=w.pending,
            queued_bytes=w.pending_bytes,
            write_failing=w.failing,
            decode_workers=self.decoder.workers,
            decoder_restarts=self.decoder.pool_restarts,
            duplicates_skipped=w.duplicates_skipped,
            errors_written=w.errors_written,
            errors_dropped=w.errors_dropped,
            write_failures=w.write_failures,
            rows_lost=w.rows_lost,
            rows_unwritten=w.unwritten,
            last_flush_at=w.last_flush_at,
            last_flush_s=w.last_flush_seconds,
        )


def _addr(address: tuple[str, int] | None) -> str | None:
    return f"{address[0]}:{address[1]}" if address else None
