"""Case 10 of the hostile-input issue: gRPC overload answers UNAVAILABLE with a RetryInfo, which every
OTLP exporter retries, never RESOURCE_EXHAUSTED without one (which an exporter may treat as final)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.collectors.otlp.conftest import wait_for
from tests.collectors.otlp.requests import request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _export(address: tuple[str, int], body: bytes) -> grpc.RpcError | None:
    # Its own connection, as each exporter has: grpcio's channels to one address otherwise share
    # one, and streams a client opens on it before the server's HTTP/2 SETTINGS arrive are refused
    # by the transport (RST_STREAM REFUSED_STREAM) without ever reaching the receiver.
    with grpc.insecure_channel("{}:{}".format(*address), options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        try:
            channel.unary_unary(EXPORT)(body, timeout=30)
        except grpc.RpcError as exc:
            return exc
    return None


def _retry_delay(err: grpc.RpcError) -> float:
    details = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    status = Status.FromString(details)
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    info = RetryInfo()
    assert status.details and status.details[0].Unpack(info)
    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


def test_concurrent_calls_past_the_budget_get_unavailable_with_retry_info(receiver_factory, store):
    # more calls at once than the receiver holds: 16 clients, room for one message at a time
    receiver = receiver_factory(grpc_max_concurrent=2, grpc_workers=4, max_inflight_bytes=1)
    bodies = [request(3000).SerializeToString() for _ in range(16)]
    with ThreadPoolExecutor(16) as pool:
        errors = list(pool.map(lambda b: _export(receiver.grpc_address, b), bodies))
    refused = [e for e in errors if e is not None]
    assert refused, "nothing was refused: the test did not overload the receiver"
    assert {e.code() for e in refused} == {grpc.StatusCode.UNAVAILABLE}
    assert all(_retry_delay(e) > 0 for e in refused)
    served = len(errors) - len(refused)
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= served * 3000) == served * 3000


def test_full_write_queue_gets_unavailable_with_retry_info(receiver_factory, store):
    receiver = receiver_factory(max_pending_rows=10, flush_rows=10)
    with store.transaction():  # another writer holds the store: the queue fills
        assert _export(receiver.grpc_address, request(10).SerializeToString()) is None
        err = _export(receiver.grpc_address, request(10).SerializeToString())
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE and _retry_delay(err) == 1.0


def test_the_sdk_grpc_exporter_retries_overload_and_delivers(receiver_factory, store):
    """The real OpenTelemetry exporter, told UNAVAILABLE + RetryInfo while the store is held, retries
    after the delay it was given and its spans land once the store is free."""
    receiver = receiver_factory(max_pending_rows=10, flush_rows=10)
    exporter = OTLPSpanExporter(endpoint="{}:{}".format(*receiver.grpc_address), insecure=True, timeout=30)
    provider = TracerProvider(resource=Resource.create({"service.name": "retrying"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("hostile")
    held = threading.Event()

    def hold_the_store() -> None:
        with store.transaction():
            held.set()
            # the queue is full already: every export now is refused until the store is free
            time.sleep(3)

    holder = threading.Thread(target=hold_the_store)
    holder.start()
    held.wait(5)
    assert _export(receiver.grpc_address, request(10).SerializeToString()) is None  # 10 rows: full
    with tracer.start_as_current_span("checkout"):
        pass  # SimpleSpanProcessor exports now, on this thread, retrying until accepted
    holder.join()
    provider.shutdown()
    assert receiver.status().requests_by_result["overloaded"] >= 1
    assert wait_for(store, "SELECT count(*) FROM spans WHERE service = 'retrying'", lambda n: n >= 1) == 1
