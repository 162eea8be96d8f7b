"""At the connection cap clients get a well-formed 429; clients that leave early cost one debug line."""

from __future__ import annotations

import http.client
import logging
import os
import socket
import struct
import threading

from google.rpc.status_pb2 import Status

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request
from tests.support.otlp_http import PROTOBUF, connect, head, http_receiver, poll, read_answer


def _exporter_post(address: tuple[str, int], body: bytes) -> tuple[int, str | None, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": PROTOBUF})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Retry-After"), resp.read()
    finally:
        conn.close()


def test_clients_over_the_connection_cap_get_429_with_retry_after_never_a_reset(store):
    body = request(3).SerializeToString()
    # a body bigger than the socket buffers: a server that answers and closes without reading it resets the client
    big = os.urandom(2 * 1024 * 1024)
    with http_receiver(store, max_connections=2) as receiver:
        held = [connect(receiver.http_address) for _ in range(2)]
        for sock in held:  # two kept-alive exporter connections fill the cap (each has been served once)
            body = request(3).SerializeToString()  # new spans each time: a repeated request is stored once
            sock.sendall(head(extra=[("Content-Length", str(len(body)))]) + body)
            assert read_answer(sock).status == 200

        results: list[object] = []

        def client() -> None:
            try:
                results.append(_exporter_post(receiver.http_address, big))
            except OSError as exc:  # BrokenPipeError, ConnectionResetError: what the cap must never cause
                results.append(exc)

        threads = [threading.Thread(target=client) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 10
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, f"{len(errors)} of 10 clients saw {errors[0]!r}"
        for status, retry_after, answer in results:  # type: ignore[misc]
            assert (status, retry_after) == (429, "1")
            assert Status.FromString(answer).code == 8  # RESOURCE_EXHAUSTED, in the request's encoding
        assert receiver.status().requests_by_result["busy"] == 10

        for sock in held:
            sock.close()
        # once the kept-alive exporters leave, the next one is served
        body = request(3).SerializeToString()
        poll(lambda: _exporter_post(receiver.http_address, body)[0] == 200, timeout=30, what="a free slot")
        assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 9) == 9


def _reset_on_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_early_disconnects_are_logged_once_at_debug_without_a_traceback(store, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    body = request(3).SerializeToString()
    n = len(body)
    leavers = {
        "mid-headers": b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Ty",
        "mid-body": head(extra=[("Content-Length", str(n))]) + body[: n // 2],
        "mid-chunked-body": head(extra=[("Transfer-Encoding", "chunked")]) + b"%x\r\n%s" % (n, body[:10]),
        "before-the-answer": head(extra=[("Content-Length", str(n))]) + body,
    }
    with http_receiver(store) as receiver:
        ports = {}
        for case, raw in leavers.items():
            sock = connect(receiver.http_address)
            ports[case] = sock.getsockname()[1]
            if case == "before-the-answer":
                # a kept-alive exporter (served once, so the server surely knows its address)
                # sends its next request and is gone with a reset while that is being answered
                sock.sendall(raw)
                assert read_answer(sock).status == 200
                _reset_on_close(sock)
            sock.sendall(raw)
            sock.close()

        def lines_about(port: int) -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.name.startswith("collectors.otlp") and f":{port}" in r.getMessage()]

        poll(lambda: all(lines_about(p) for p in ports.values()), timeout=30, what="every disconnect noticed")
        poll(lambda: receiver.ingest._inflight == 0, timeout=30, what="their budget given back")
        # the receiver goes on serving (new spans: a repeated request is stored once)
        assert post(receiver.http_address, request(3).SerializeToString())[0] == 200
        assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 6) >= 6
    for case, port in ports.items():
        records = lines_about(port)
        assert len(records) == 1, (case, [r.getMessage() for r in records])
        assert records[0].levelno == logging.DEBUG and records[0].exc_info is None, case
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in capfd.readouterr().err


def test_a_failure_inside_the_receiver_costs_one_request_and_one_line(store, caplog, capfd, monkeypatch):
    body = request(3).SerializeToString()
    with http_receiver(store) as receiver:
        real_export = receiver.ingest.export
        calls = []

        def export_failing_once(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("a bug")
            return real_export(*args, **kwargs)

        monkeypatch.setattr(receiver.ingest, "export", export_failing_once)
        status, _, answer = _exporter_post(receiver.http_address, body)
        assert status == 500 and Status.FromString(answer).code == 13  # INTERNAL
        assert post(receiver.http_address, body)[0] == 200
        assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 3) == 3
    (line,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "RuntimeError('a bug')" in line.getMessage() and line.exc_info is None
    assert "Traceback" not in capfd.readouterr().err
