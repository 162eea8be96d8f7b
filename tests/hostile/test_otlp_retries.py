"""Case 9 of the hostile-input issue: an exporter retrying a request must not store its spans twice."""

from __future__ import annotations

import grpc

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _count(store) -> int:
    return store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]


def test_a_retried_request_stores_its_spans_once(receiver, store):
    body = request(5).SerializeToString()
    assert post(receiver.http_address, body)[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 5) == 5
    assert post(receiver.http_address, body)[0] == 200  # the exporter did not see the first answer
    with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address)) as channel:
        channel.unary_unary(EXPORT)(body, timeout=10)  # and over gRPC too
    other = request(5).SerializeToString()
    assert post(receiver.http_address, other)[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 10) == 10
    receiver.stop()
    assert _count(store) == 10
    assert receiver.status().duplicates_skipped == 10


def test_retries_inside_one_batch_store_once(receiver_factory, store):
    receiver = receiver_factory(flush_interval=5.0)  # both copies wait in the same batch
    body = request(5).SerializeToString()
    assert post(receiver.http_address, body)[0] == 200
    assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    assert _count(store) == 5


def test_same_ids_at_another_time_are_another_span(receiver, store):
    """Only a true copy is skipped: a span id reused with another start time is still stored."""
    req = request(1)
    first = req.SerializeToString()
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano += 1_000_000_000
    assert post(receiver.http_address, first)[0] == 200
    assert post(receiver.http_address, req.SerializeToString())[0] == 200
    receiver.stop()
    assert _count(store) == 2


def test_same_ids_at_another_time_inside_one_batch_are_two_spans(receiver_factory, store):
    """A batch with a repeated (trace id, span id) is grouped by its whole key: both spans are kept,
    and a true copy beside them is still skipped."""
    receiver = receiver_factory(flush_interval=5.0)  # all three wait in the same batch
    req = request(1)
    first = req.SerializeToString()
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano += 1_000_000_000
    for body in (first, req.SerializeToString(), first):
        assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    assert _count(store) == 2
    assert receiver.status().duplicates_skipped == 1
