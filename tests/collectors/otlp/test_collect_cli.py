"""`seamwatch collect --otlp-…` end to end: a real process, the SDK exporter, SIGTERM, the rows committed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import duckdb
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from tests.collectors.otlp.scenario import emit_shop_traces
from tests.support.net import free_port

SEAMWATCH = [sys.executable, "-c", "from dashboard.cli import main; main()"]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_collect_receives_otlp_until_sigterm_and_commits(tmp_path):
    db, http_port, grpc_port = tmp_path / "c.duckdb", free_port(), free_port()
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{http_port}",
                             "--otlp-grpc", f"127.0.0.1:{grpc_port}", "--otlp-decoders", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(http_port, proc)
        _wait_listening(grpc_port, proc)
        ids = emit_shop_traces(lambda: OTLPSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces"))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == f"collecting into {db}: derive, otlp; Ctrl+C stops, flushes and commits"
    assert "everything flushed and committed" in out
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM spans WHERE source = 'otlp-http'").fetchone()[0] == len(ids)


def test_collect_names_a_busy_port_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*SEAMWATCH, "collect", "--db", str(tmp_path / "c.duckdb"), "--otlp-http",
                               f"127.0.0.1:{port}", "--otlp-decoders", "0"],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "SEAMWATCH_OTLP": ""})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"seamwatch: cannot listen for OTLP/HTTP on 127.0.0.1:{port} (Address already in use); "
        f"choose another address with --otlp-http"]


def test_collect_rejects_a_malformed_address(tmp_path):
    proc = subprocess.run([*SEAMWATCH, "collect", "--db", str(tmp_path / "c.duckdb"), "--otlp-grpc", "localhost"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--otlp-grpc must look like HOST:PORT" in proc.stderr


def test_collect_retain_deletes_old_rows_while_collecting(tmp_path):
    """A collector alone (no dashboard beside it, as on a lake's collector machines) applies --retain."""
    from datetime import datetime, timedelta

    from collectors.model import SPAN_SCHEMA, to_table
    from collectors.normalize.spans import span_row
    from collectors.store import Store

    def span(i: int, age: timedelta) -> dict:
        ns = int((datetime.now() - age).timestamp() * 1e9)  # noqa: DTZ005 (epoch ns: the zone does not matter)
        return span_row(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", parent_span_id=None,
                        resource={"service.name": "a"}, scope=None, name="GET /x", kind=2, flags=0, start_ns=ns,
                        end_ns=ns + 1_000_000, status_code=0, status_message=None, attributes={}, events=[],
                        links=[], source="test")

    db = tmp_path / "c.duckdb"
    with Store(db) as store:
        store.append({"spans": to_table([span(i, timedelta(days=3)) for i in range(30)]
                                        + [span(100 + i, timedelta(minutes=5)) for i in range(7)], SPAN_SCHEMA)})
    http_port = free_port()
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{http_port}",
                             "--otlp-decoders", "0", "--retain", "2d"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "SEAMWATCH_OTLP": ""})
    try:
        _wait_listening(http_port, proc)  # every component starts, then stops: retention passes once at its start
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "everything flushed and committed" in out, err
    assert proc.returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == 7


def test_collect_refuses_a_bad_retain_in_one_line(tmp_path):
    proc = subprocess.run([*SEAMWATCH, "collect", "--db", str(tmp_path / "c.duckdb"), "--otlp-http", "127.0.0.1:0",
                           "--retain", "a week"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "seamwatch: --retain must be a positive duration like 30m, 24h or 7d, not 'a week'"]
    assert not (tmp_path / "c.duckdb").exists()
