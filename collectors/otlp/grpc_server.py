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
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
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
    # Overload is UNAVAILABLE with a RetryInfo: the OTLP specification lets exporters treat
    # RESOURCE_EXHAUSTED without RetryInfo as final, and UNAVAILABLE is retried by all of them.
    Result.OVERLOADED: grpc.StatusCode.UNAVAILABLE,
    Result.BUSY: grpc.StatusCode.UNAVAILABLE,
}
RETRY_AFTER_SECONDS = 1


def _retry_metadata(code: grpc.StatusCode, message: str) -> tuple[tuple[str, bytes], ...]:
    """RetryInfo where exporters look for it: in the google.rpc.Status of grpc-status-details-bin (Go,
    Java, the Collector), and alone in google.rpc.retryinfo-bin (the Python SDK's exporter)."""
    info = RetryInfo(retry_delay=Duration(seconds=RETRY_AFTER_SECONDS))
    detail = AnyProto()
    detail.Pack(info)
    status = Status(code=code.value[0], message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),
            ("google.rpc.retryinfo-bin", info.SerializeToString()))


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    def Export(self, request: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:  # noqa: N802
        ingest, location = self.ingest, context.peer()
        # gRPC holds each whole message: it counts against the same in-flight budget as HTTP bodies
        if not ingest.reserve(len(request)):
            outcome = ingest.refuse(Result.BUSY, "too many requests at once; retry later", source=SOURCE,
                                    location=location, raw=None)
        else:
            try:
                outcome = ingest.export(request, fmt="proto", source=SOURCE, location=location)
            finally:
                ingest.release(len(request))
        if outcome.result is Result.OK:
            return ExportTraceServiceResponse()
        if outcome.result is Result.PARTIAL:
            return ExportTraceServiceResponse(partial_success=ExportTracePartialSuccess(
                rejected_spans=outcome.rejected, error_message=outcome.message))
        code = _CODES[outcome.result]
        if code is grpc.StatusCode.UNAVAILABLE:
            context.set_trailing_metadata(_retry_metadata(code, outcome.message))
        context.abort(code, outcome.message)
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
        # No maximum_concurrent_rpcs: past it grpcio itself answers RESOURCE_EXHAUSTED without
        # RetryInfo, which exporters may drop as final. Calls beyond the threads wait unread (a
        # call's message is read by its thread), HTTP/2 flow control holds their bytes at the
        # client, and max_concurrent_streams makes each connection queue its calls on its side.
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
            options=[*options, ("grpc.max_concurrent_streams", max_concurrent)],
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
