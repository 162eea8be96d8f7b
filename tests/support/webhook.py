"""A real HTTP receiver for notification tests: http.server on a free loopback port, recording each POST."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hook:
    """What the receiver got, and what it answers: ``statuses`` in turn, then 200."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)  # every request, answered or not
    accepted: list[dict[str, Any]] = field(default_factory=list)  # the bodies answered 2xx
    headers: list[dict[str, str]] = field(default_factory=list)

    def wait_for(self, n: int, *, timeout: float = 30, accepted: bool = True) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        seen = self.accepted if accepted else self.received
        while len(seen) < n:
            assert time.monotonic() < deadline, f"wanted {n} notices, got {len(seen)}: {seen}"
            time.sleep(0.05)
        return list(seen)


@contextmanager
def webhook(statuses: list[int] | None = None) -> Iterator[Hook]:
    hook = Hook(url="", statuses=list(statuses or []))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                hook.received.append(body)
                hook.headers.append(dict(self.headers))
                status = hook.statuses.pop(0) if hook.statuses else 200
                if 200 <= status < 300:
                    hook.accepted.append(body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
