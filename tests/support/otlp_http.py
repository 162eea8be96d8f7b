"""A real OTLP receiver over HTTP, and raw-socket clients for what no well-behaved exporter sends."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from collectors.otlp import OtlpConfig, OtlpReceiver
from collectors.store import Store

PROTOBUF, JSON = "application/x-protobuf", "application/json"


@contextmanager
def http_receiver(store: Store, **overrides: Any) -> Iterator[OtlpReceiver]:
    """An OTLP receiver serving HTTP only, on a free loopback port, decoding in-process; stopped after."""
    options: dict[str, Any] = {"http": ("127.0.0.1", 0), "grpc": None, "flush_interval": 0.1, "decode_workers": 0}
    receiver = OtlpReceiver(store, OtlpConfig(**{**options, **overrides}))
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def head(*, path: str = "/v1/traces", content_type: str = PROTOBUF, extra: list[tuple[str, str]] | None = None) -> bytes:
    """The request line and headers of a POST, ended by the blank line; framing headers go in ``extra``."""
    lines = [f"POST {path} HTTP/1.1", "Host: seamwatch", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in extra or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(address: tuple[str, int], timeout: float = 30.0) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def read_answer(sock: socket.socket) -> Answer:
    """Parse one HTTP response from the socket with the standard library's client parser."""
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    body = resp.read()
    return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed the connection (EOF or reset), False while it stays open."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def poll(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds (generous on a busy box)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.02)


def export_when_listening(port: int, body: bytes, *, timeout: float, process: Any = None) -> None:
    """POST an OTLP/JSON body to a collector starting up on ``port`` until it answers 200; fail after
    ``timeout`` seconds, or at once (with its output) when ``process`` has ended."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": JSON})
    deadline = time.monotonic() + timeout
    while True:
        assert process is None or process.poll() is None, process.communicate()[0]
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 200
                return
        except OSError:
            assert time.monotonic() < deadline, "the OTLP receiver never answered"
            time.sleep(0.2)


class Trickler:
    """Sends one byte at a time to many sockets, every ``interval`` seconds, from a background thread.

    Slow clients (a slowloris) keep a request open this way without ever finishing it.
    """

    def __init__(self, socks: list[socket.socket], data: bytes, interval: float) -> None:
        self.socks, self.data, self.interval = socks, data, interval
        self.sent = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self.sent < len(self.data) and not self._stop.wait(self.interval):
            byte = self.data[self.sent:self.sent + 1]
            for n, s in enumerate(self.socks):
                try:
                    s.sendall(byte)
                except OSError as exc:
                    self.failures.append(f"slow client {n}: {exc!r}")
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
