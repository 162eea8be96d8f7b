"""`seamwatch collect` (tap, lag poller, OTLP receiver) never loads the dashboard's heavy libraries:
pandas alone is ~35 MiB of a collector's memory (collectors/memory_budget.py). With --notify or
--metrics the rules run in the collector, and they use pandas. Without the OTLP receiver it loads
neither gRPC nor the HTTP server (~13 MiB)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import duckdb
import pytest
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from tests.collectors.kafka.conftest import wait_for
from tests.collectors.otlp.scenario import emit_shop_traces
from tests.support.net import free_port
from tests.support.processes import interrupt

pytestmark = pytest.mark.kafka
TRACEPARENT = b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"

HEAVY = ("pandas", "streamlit", "plotly")
OTLP_STACK = ("grpc", "uvicorn")  # the receiver's servers: loaded only when it runs
# the real entry point, and at its exit (after Ctrl+C has stopped the collectors) which of HEAVY it loaded
SEAMWATCH_REPORTING_IMPORTS = [
    sys.executable, "-c",
    "import atexit, sys\n"
    f"atexit.register(lambda: print('loaded:', *[m for m in {HEAVY + OTLP_STACK!r} if m in sys.modules]))\n"
    "from dashboard.cli import main\n"
    "main()"]


@pytest.mark.parametrize(("budget", "otlp"), [([], True), (["--memory", "400MB"], True), (["--memory", "400MB"], False)],
                         ids=["unbudgeted", "budget", "budget-kafka-only"])
def test_collect_taps_polls_and_receives_without_pandas(bootstrap, topic_factory, produce, tmp_path,
                                                        budget, otlp) -> None:
    topic, group = topic_factory("lean", partitions=2), f"lean-{uuid.uuid4().hex[:6]}"
    produce(topic, [(b"k%d" % i, b'{"eventId": "%d"}' % i, [("traceparent", TRACEPARENT)], i % 2) for i in range(500)])
    db, port = tmp_path / "lean.duckdb", free_port()
    receiver = ["--otlp-http", f"127.0.0.1:{port}", "--otlp-decoders", "0"] if otlp else []
    proc = subprocess.Popen([*SEAMWATCH_REPORTING_IMPORTS, "collect", "--db", str(db), "--bootstrap", bootstrap,
                             "--cluster", "lean", "--topic", topic, "--from-beginning",
                             "--tap-group", group, "--poll-interval", "0.5", *receiver, *budget],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        spans = emit_shop_traces(lambda: OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces",
                                                          timeout=30)) if otlp else []
        wait_for(lambda: proc.poll() is not None or _committed(bootstrap, group, topic) == 500, timeout=60,
                 interval=0.5, what="500 records stored")
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(1)  # two more lag polls
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    assert "everything flushed and committed" in out, out
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM records WHERE topic = ?", [topic]).fetchone()[0] == 500
        assert con.execute("SELECT count(*) FROM topic_offsets WHERE topic = ?", [topic]).fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM spans").fetchone()[0] == len(spans)
    loaded = out.splitlines()[-1].split()
    assert loaded[0] == "loaded:" and not set(loaded[1:]) & set(HEAVY), out
    assert set(loaded[1:]) == (set(OTLP_STACK) if otlp else set()), out


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Records the tap has stored: it commits to its group only after the store's commit."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return sum(max(tp.offset, 0) for tp in c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10))
    finally:
        c.close()
