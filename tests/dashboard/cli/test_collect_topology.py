"""`seamwatch collect --topology`: a headless capture is judged against the file it was given,
as `seamwatch up --topology` is (the README's "Stop, then ask" flow)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.net import free_port
from tests.support.otlp_http import export_when_listening
from tests.support.processes import interrupt, seamwatch

TOPOLOGY = """\
version: 1
name: two-hops
limits:
  max_sync_depth: 1
services:
  web:
    endpoints: [GET /home]
    calls: [api GET /items]
  api:
    endpoints: [GET /items]
    calls: [db-api GET /rows]
  db-api:
    endpoints: [GET /rows]
"""
TRACE = "5b8efff798038103d269b633813fc60c"
T0 = 1_764_230_400_000_000_000  # ns


def _span(span_id: str, parent: str, name: str, kind: int, start_ms: int, end_ms: int, route: str = "") -> dict:
    attrs = [{"key": "http.request.method", "value": {"stringValue": "GET"}}]
    if route:
        attrs.append({"key": "http.route", "value": {"stringValue": route}})
    return {"traceId": TRACE, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": kind,
            "startTimeUnixNano": str(T0 + start_ms * 1_000_000), "endTimeUnixNano": str(T0 + end_ms * 1_000_000),
            "attributes": attrs}


def _chain() -> bytes:
    """web → api → db-api: two synchronous hops, one past the file's limit of 1 (the default is 3)."""
    by_service = {
        "web": [_span("a000000000000001", "", "GET /home", 2, 0, 50, "/home"),
                _span("a000000000000002", "a000000000000001", "GET", 3, 5, 45)],
        "api": [_span("b000000000000001", "a000000000000002", "GET /items", 2, 6, 44, "/items"),
                _span("b000000000000002", "b000000000000001", "GET", 3, 10, 40)],
        "db-api": [_span("c000000000000001", "b000000000000002", "GET /rows", 2, 11, 39, "/rows")],
    }
    return json.dumps({"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"spans": spans}]} for svc, spans in by_service.items()]}).encode()


def test_collect_judges_the_capture_against_the_topology_it_was_given(tmp_path: Path) -> None:
    topology = tmp_path / "two-hops.yaml"
    topology.write_text(TOPOLOGY, encoding="utf-8")
    db, port = tmp_path / "capture.duckdb", free_port()
    proc = subprocess.Popen(seamwatch("collect", "--db", str(db), "--topology", str(topology),
                                      "--otlp-http", f"127.0.0.1:{port}"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        export_when_listening(port, _chain(), timeout=60, process=proc)
    finally:
        out = interrupt(proc, 60)
    assert proc.returncode == 0, out

    found = subprocess.run(seamwatch("findings", "--db", str(db), "--json"), capture_output=True, text=True,
                           timeout=120)
    assert found.returncode == 0, found.stderr
    chains = [f for f in json.loads(found.stdout)["findings"] if f["rule"] == "LONG_SYNC_CHAIN"]
    assert [(f["subject"], f["evidence"]["max_depth"], f["evidence"]["limit"]) for f in chains] == [
        ("web GET /home", 2, 1)]
