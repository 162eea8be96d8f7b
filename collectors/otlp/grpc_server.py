"""OTLP/gRPC: `TraceService/Export` through grpcio, gzip handled by gRPC itself.

The generated servicer's Export is registered with a pass-through request deserializer: the
receiver gets the raw bytes, so an undecodable request is answered INVALID_ARGUMENT and
recorded in ingest_errors like on HTTP, instead of failing inside gRPC unseen.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from collectors.otlp.ingest import Ingest, Result

log = logging.getLogger(__name__)

SOURCE = "otlp-grpc"
_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
_CODES = {
    Result.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    Result.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Result.UNSUPPORTED: grpc.StatusCode.INVALID_ARGUMENT,
    Result.OVERLOADED: grpc.StatusCode.UNAVAILABLE,  # retryable for every OTLP exporter
    Result.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    def Export(self, request: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:  # noqa: N802
        outcome = self.ingest.export(request, fmt="proto", source=SOURCE, location=context.peer())
        if outcome.result is Result.OK:
            return ExportTraceServiceResponse()
        if outcome.result is Result.PARTIAL:
            return ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(
                rejected_spans=outcome.rejected, error_message=outcome.message))
        context.abort(_CODES[outcome.result], outcome.message)
        raise AssertionError("unreachable: abort raises")


class GrpcReceiver:
    """Serves OTLP/gRPC on grpcio's own threads."""

    def __init__(self, address: tuple[str, int], ingest: Ingest, *, workers: int, max_concurrent: int) -> None:
        host, port = address
        options: list[tuple[str, Any]] = [
            # gRPC applies this to the decompressed message: the same cap as HTTP
            ("grpc.max_receive_message_length", ingest.max_body_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            maximum_concurrent_rpcs=max_concurrent,  # past it gRPC answers RESOURCE_EXHAUSTED
            options=options,
        )
        servicer = _TraceService(ingest)
        handler = grpc.unary_unary_rpc_method_handler(
            servicer.Export,
            request_deserializer=None,  # raw bytes: decoded by collectors.normalize.otlp_proto
            response_serializer=ExportTraceServiceResponse.SerializeToString,
        )
        self._server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, {"Export": handler}),))
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = self._server.add_insecure_port(target)
        except RuntimeError:  # newer grpcio raises where older ones returned 0
            bound = 0
        if not bound:
            raise OSError(f"cannot listen for OTLP/gRPC on {target}")
        self.address: tuple[str, int] = (host, bound)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait(grace + 1)
