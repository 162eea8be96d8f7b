"""Gzip bodies of several members (valid gzip, as curl and some proxies send) are decoded whole, or refused."""

from __future__ import annotations

import gzip

from google.rpc.status_pb2 import Status

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request
from tests.support.otlp_http import http_receiver

SPANS = "SELECT count(*) FROM spans"


def test_every_gzip_member_is_decoded(store):
    # two requests, each a gzip member: concatenated protobuf messages merge, so 3 + 4 spans arrive
    body = gzip.compress(request(3).SerializeToString()) + gzip.compress(request(4).SerializeToString())
    with http_receiver(store) as receiver:
        status, _, _ = post(receiver.http_address, body, encoding="gzip")
        assert status == 200
        assert wait_for(store, SPANS, lambda n: n >= 7) == 7


def test_a_member_boundary_inside_a_span_is_decoded(store):
    # a streaming compressor may start a new member anywhere, even in the middle of a span
    raw = request(5).SerializeToString()
    cut = len(raw) // 2 + 3
    body = gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]) + gzip.compress(b"")
    with http_receiver(store) as receiver:
        assert post(receiver.http_address, body, encoding="gzip")[0] == 200
        assert wait_for(store, SPANS, lambda n: n >= 5) == 5


def test_trailing_garbage_after_the_gzip_stream_is_a_bad_request(store):
    body = gzip.compress(request(3).SerializeToString()) + b"garbage that is not gzip"
    with http_receiver(store) as receiver:
        status, _, answer = post(receiver.http_address, body, encoding="gzip")
        assert status == 400
        assert "not valid gzip" in Status.FromString(answer).message
        assert wait_for(store, "SELECT count(*) FROM ingest_errors", lambda n: n >= 1) == 1
        assert store.cursor().execute(SPANS).fetchone()[0] == 0  # nothing of a refused request is kept


def test_many_members_cannot_inflate_past_the_body_cap(store):
    # each member is small and under the cap; together they inflate to 4 MB against a 1 MiB cap
    member = gzip.compress(b"\x00" * 500_000)
    with http_receiver(store, max_body_bytes=1024 * 1024) as receiver:
        status, _, answer = post(receiver.http_address, member * 8, encoding="gzip")
        assert status == 413
        assert "larger than 1048576 bytes once decompressed" in Status.FromString(answer).message
        # the receiver goes on serving
        assert post(receiver.http_address, request(2).SerializeToString(), gzip=True)[0] == 200
        assert wait_for(store, SPANS, lambda n: n >= 2) == 2
