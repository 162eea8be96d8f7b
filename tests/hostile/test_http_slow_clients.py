"""Slow clients cannot lock exporters out: whole-request deadlines, and no budget for bytes not yet sent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from google.rpc.status_pb2 import Status

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request
from tests.support.net import free_port
from tests.support.otlp_http import (
    JSON,
    PROTOBUF,
    Trickler,
    closed_by_server,
    connect,
    head,
    http_receiver,
    poll,
    read_answer,
)

SPANS = "SELECT count(*) FROM spans"


def test_a_body_not_yet_sent_holds_no_budget(store):
    cap = 64 * 1024
    with http_receiver(store, max_body_bytes=cap, max_inflight_bytes=cap) as receiver:
        # announces a body as big as the whole in-flight budget, sends 10 bytes of it
        slow = connect(receiver.http_address)
        slow.sendall(head(extra=[("Content-Length", str(cap))]) + b"\x0a" * 10)
        for _ in range(3):  # exporters are served meanwhile
            assert post(receiver.http_address, request(3).SerializeToString())[0] == 200
        assert wait_for(store, SPANS, lambda n: n >= 9) == 9
        slow.close()


def test_bodies_that_did_arrive_count_against_the_budget(store):
    cap = 64 * 1024
    with http_receiver(store, max_body_bytes=cap, max_inflight_bytes=cap) as receiver:
        # a client that has sent 60 KiB of a chunked body and stalls holds those bytes
        slow = connect(receiver.http_address)
        slow.sendall(head(extra=[("Transfer-Encoding", "chunked")]) + b"%x\r\n" % (60 * 1024) + b"\x00" * 60 * 1024)
        poll(lambda: receiver.ingest._inflight >= 60 * 1024, timeout=30, what="the slow body's bytes held")
        status, headers, answer = post(receiver.http_address, request(100).SerializeToString())
        assert (status, headers["retry-after"]) == (429, "1")
        assert Status.FromString(answer).code == 8  # RESOURCE_EXHAUSTED
        slow.close()
        # the slow client's bytes are given back when it leaves; then exporters are served again
        poll(lambda: receiver.ingest._inflight == 0, timeout=30, what="the budget given back")
        assert post(receiver.http_address, request(3).SerializeToString())[0] == 200


def _expect_timeout_answer(sock, started: float, timeout: float, content_type: str) -> None:
    answer = read_answer(sock)
    waited = time.monotonic() - started
    assert answer.status == 408
    assert answer.headers["content-type"] == content_type
    if content_type == JSON:
        doc = json.loads(answer.body)
        status = Status(code=doc["code"], message=doc["message"])
    else:
        status = Status.FromString(answer.body)
    assert status.code == 4  # DEADLINE_EXCEEDED
    assert f"within {timeout:g} s" in status.message
    assert waited >= timeout * 0.95  # the client had its whole deadline (a loose upper bound: machines are busy)
    assert closed_by_server(sock)


@pytest.mark.parametrize("case", ["headers", "content-length body", "chunked body"])
def test_a_request_not_sent_within_the_deadline_gets_408_and_is_closed(store, case):
    timeout = 2.0
    body = request(3).SerializeToString()
    with http_receiver(store, request_timeout=timeout) as receiver:
        started = time.monotonic()
        sock = connect(receiver.http_address)
        if case == "headers":
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
            ctype = JSON  # no content type was read yet: JSON, like every answer to a request that is not OTLP
        elif case == "content-length body":
            sock.sendall(head(extra=[("Content-Length", str(len(body)))]) + body[:5])
            ctype = PROTOBUF
        else:
            sock.sendall(head(content_type=JSON, extra=[("Transfer-Encoding", "chunked")]) + b"40\r\n{")
            ctype = JSON
        _expect_timeout_answer(sock, started, timeout, ctype)
        sock.close()
        assert receiver.ingest._inflight == 0
        assert post(receiver.http_address, body)[0] == 200


def test_a_silent_connection_is_closed_after_the_deadline(store):
    with http_receiver(store, request_timeout=1.0) as receiver:
        sock = connect(receiver.http_address)
        started = time.monotonic()
        poll(lambda: closed_by_server(sock), timeout=30, what="the silent connection closed")
        assert time.monotonic() - started >= 0.9


def test_the_deadline_is_per_request_not_per_kept_alive_connection(store):
    with http_receiver(store, request_timeout=1.0) as receiver:
        sock = connect(receiver.http_address)
        for _ in range(2):  # an exporter reuses its connection after a pause longer than the deadline
            body = request(3).SerializeToString()  # new spans each time: a repeated request is stored once
            sock.sendall(head(extra=[("Content-Length", str(len(body)))]) + body)
            assert read_answer(sock).status == 200
            time.sleep(1.5)
        assert wait_for(store, SPANS, lambda n: n >= 6) == 6


def _legit_exporters(address: tuple[str, int], requests: int, spread: float) -> list[int]:
    """``requests`` exporter posts from 5 threads, spread over about ``spread`` seconds; their statuses."""
    statuses: list[int] = []
    lock = threading.Lock()

    def exporter(n: int) -> None:
        for i in range(n, requests, 5):
            time.sleep(spread / requests * 5 if i >= 5 else 0)
            status = post(address, request(3).SerializeToString())[0]
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=exporter, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return statuses


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_five_slow_body_senders_do_not_lock_exporters_out(store, framing):
    """Issue 10, case 5: five clients sending 1 byte every 10 s held the whole in-flight budget."""
    # the defaults (20 MiB bodies, 30 s deadline), and an in-flight budget smaller than what the
    # five announce: 5 × 16 MiB against 64 MiB (the default 96 MiB would hold four of them)
    with http_receiver(store, max_inflight_bytes=64 * 1024 * 1024) as receiver:
        slow = [connect(receiver.http_address) for _ in range(5)]
        for sock in slow:
            if framing == "chunked":
                sock.sendall(head(extra=[("Transfer-Encoding", "chunked")]) + b"100000\r\n")
            else:  # one 16 MiB body each
                sock.sendall(head(extra=[("Content-Length", str(16 * 1024 * 1024))]))
        trickle = Trickler(slow, b"\x0a" * 100, interval=10)
        try:
            statuses = _legit_exporters(receiver.http_address, 45, spread=12)
            assert trickle.sent >= 1 and not trickle.failures  # the slow ones were still sending meanwhile
        finally:
            trickle.stop()
        assert statuses == [200] * 45
        assert wait_for(store, SPANS, lambda n: n >= 135) == 135
        assert receiver.status().requests_by_result["busy"] == 0
        for sock in slow:
            sock.close()


@pytest.mark.slow
def test_sixty_four_slow_header_senders_do_not_lock_exporters_out(store):
    """Issue 10, case 5: 64 clients sending their headers 1 byte every 10 s took every connection."""
    with http_receiver(store) as receiver:
        slow = [connect(receiver.http_address) for _ in range(64)]
        for sock in slow:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        trickle = Trickler(slow, b"X-Slow: " + b"s" * 100, interval=10)
        try:
            statuses = _legit_exporters(receiver.http_address, 45, spread=12)
            assert trickle.sent >= 1 and not trickle.failures
        finally:
            trickle.stop()
        assert statuses == [200] * 45
        assert wait_for(store, SPANS, lambda n: n >= 135) == 135
        for sock in slow:
            sock.close()


def test_collect_takes_the_request_timeout_option(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from dashboard.cli import main; main()", "collect",
                             "--db", str(tmp_path / "c.duckdb"), "--otlp-http", f"127.0.0.1:{port}",
                             "--otlp-request-timeout", "1.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                sock = connect(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline, "collect never listened"
                time.sleep(0.1)
        started = time.monotonic()
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\n")
        _expect_timeout_answer(sock, started, 1.5, JSON)
        sock.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
