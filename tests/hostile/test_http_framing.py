"""Ambiguous request framing is refused: a body two parsers could read differently is never stored."""

from __future__ import annotations

import json

import pytest
from google.rpc.status_pb2 import Status

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request
from tests.support.otlp_http import JSON, PROTOBUF, Answer, closed_by_server, connect, head, http_receiver, read_answer


def _status_of(answer: Answer) -> Status:
    """The google.rpc.Status of an error answer, in whichever OTLP encoding it came."""
    if answer.headers["content-type"] == JSON:
        doc = json.loads(answer.body)
        return Status(code=doc["code"], message=doc["message"])
    assert answer.headers["content-type"] == PROTOBUF
    return Status.FromString(answer.body)


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def _conflicts() -> list[tuple[str, bytes]]:
    body = request(3).SerializeToString()
    n = len(body)
    return [
        ("two different Content-Length values",
         head(extra=[("Content-Length", str(n)), ("Content-Length", str(n - 10))]) + body),
        ("Content-Length and chunked",
         head(extra=[("Content-Length", str(n)), ("Transfer-Encoding", "chunked")]) + _chunked(body)),
        ("chunked and Content-Length",
         head(extra=[("Transfer-Encoding", "chunked"), ("Content-Length", str(n))]) + _chunked(body)),
    ]


@pytest.mark.parametrize(("case", "raw"), _conflicts(), ids=[c for c, _ in _conflicts()])
def test_conflicting_framing_gets_400_and_the_connection_closes(store, case, raw):
    with http_receiver(store) as receiver:
        sock = connect(receiver.http_address)
        sock.sendall(raw)
        answer = read_answer(sock)
        assert answer.status == 400, case
        status = _status_of(answer)
        assert status.code == 3  # INVALID_ARGUMENT
        assert "framing" in status.message
        # the server cannot know where this request ends, so it must not read a next one from it
        assert closed_by_server(sock)
        sock.close()
        # nothing of it was stored, and the next exporter is served
        assert post(receiver.http_address, request(2).SerializeToString())[0] == 200
        assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 2) == 2
        assert receiver.status().requests_by_result["bad_request"] == 1


def test_the_same_content_length_twice_is_one_header(store):
    # RFC 9110 §8.6: a list of identical values may be taken as one
    body = request(3).SerializeToString()
    with http_receiver(store) as receiver:
        sock = connect(receiver.http_address)
        sock.sendall(head(extra=[("Content-Length", str(len(body)))] * 2) + body)
        assert read_answer(sock).status == 200
        sock.close()
        assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 3) == 3
