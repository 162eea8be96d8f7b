"""Case 11 of the hostile-input issue: `seamwatch collect --otlp` stops on the FIRST SIGINT or SIGTERM,
under load, every time, and says truthfully what it committed.

A signal sent to the process is taken by whichever of its threads the kernel picks: usually the
main thread, but another one (an HTTP, gRPC or writer thread) when the main thread cannot take it
right then. That is the case that was ignored. Linux lets a test pick that thread: kill() with a
thread's id sends the (process-wide) signal but delivers it to that thread.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

import duckdb
import grpc
import pytest

from tests.collectors.otlp.requests import request
from tests.collectors.otlp.test_collect_cli import _wait_listening
from tests.support.net import free_port

SEAMWATCH = [sys.executable, "-c", "from dashboard.cli import main; main()"]
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RUNS = 6
# a stop flushes at most the writer's queue; far less than this on any machine
PROMPT_SECONDS = 20.0


def _load(http_port: int, grpc_port: int, stop: threading.Event, answered: list[int]) -> list[threading.Thread]:
    """Exporters that post as fast as they can, over HTTP and gRPC, until ``stop``; 200/OK counted.

    Every request holds new spans, so whatever the store dedupes, each 200/OK is 200 more rows."""

    def http_client() -> None:
        while not stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                while not stop.is_set():
                    body = request(200).SerializeToString()
                    conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        answered.append(200)
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)  # the collector is going away

    def grpc_client() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            export = channel.unary_unary(EXPORT)
            while not stop.is_set():
                try:
                    export(request(200).SerializeToString(), timeout=5)
                    answered.append(200)
                except grpc.RpcError:
                    time.sleep(0.05)

    threads = [threading.Thread(target=f, daemon=True) for f in (http_client, http_client, grpc_client)]
    for t in threads:
        t.start()
    return threads


def _other_thread(pid: int) -> int:
    """The id of a thread of ``pid`` other than its main thread (the newest one)."""
    return max(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)


@pytest.mark.slow
@pytest.mark.parametrize("run", range(RUNS))
def test_first_signal_under_load_stops_collect_promptly(tmp_path, run):
    sig = (signal.SIGINT, signal.SIGTERM)[run % 2]
    db, http_port, grpc_port = tmp_path / "c.duckdb", free_port(), free_port()
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{http_port}",
                             "--otlp-grpc", f"127.0.0.1:{grpc_port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, answered = threading.Event(), []
    try:
        _wait_listening(http_port, proc)
        _wait_listening(grpc_port, proc)
        threads = _load(http_port, grpc_port, stop, answered)
        deadline = time.monotonic() + 30
        while len(answered) < 20 and time.monotonic() < deadline:  # well under load before the signal
            time.sleep(0.05)
        assert len(answered) >= 20, "the collector never got going"
        # once: a second signal must never be needed
        os.kill(proc.pid if run % 3 == 0 else _other_thread(proc.pid), sig)
        sent = time.monotonic()
        try:
            out, err = proc.communicate(timeout=PROMPT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"collect still ran {PROMPT_SECONDS:.0f} s after one {sig.name} under load")
        took = time.monotonic() - sent
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    for t in threads:
        t.join(10)
    assert proc.returncode == 0, err
    assert "everything flushed and committed" in out, (out, err)
    assert took < PROMPT_SECONDS
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM spans").fetchone()[0]
    # every request answered 200/OK before the exit is in the store (200 spans each)
    assert stored >= 200 * len(answered), (stored, len(answered))
