"""An unreachable broker must not flood the log (issue 10, case 22: 843 identical lines in 14 s)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.logrepeat import RepeatFilter
from tests.support.processes import interrupt


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connecting is refused


def test_collect_against_a_closed_port_logs_each_connection_error_once_per_interval(tmp_path: Path) -> None:
    port = _closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from dashboard.cli import main; main()", "collect", "--db", str(tmp_path / "s.duckdb"),
         "--bootstrap", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(12)
    finally:
        out = interrupt(proc, timeout=30)
    refused = [line for line in out.splitlines() if "Connection refused" in line]
    # today: ~400 such lines in 12 s (tap consumer, its error callback and the lag poller's client)
    assert 1 <= len(refused) <= 6, "\n".join(refused[:20])


def test_repeats_within_the_interval_are_counted_and_reported_with_the_next_line() -> None:
    clock = [100.0]
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.logrepeat")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = Collect()
    handler.addFilter(RepeatFilter(interval=30.0, clock=lambda: clock[0]))
    logger.addHandler(handler)
    try:
        for i in range(50):  # librdkafka's text varies in its numbers only
            logger.warning("127.0.0.1:%d/bootstrap: Connect failed: Connection refused (after %dms)", 9, i)
            clock[0] += 0.2
        logger.warning("a different problem")
        clock[0] += 30.0
        logger.warning("127.0.0.1:9/bootstrap: Connect failed: Connection refused (after 3ms)")
    finally:
        logger.removeHandler(handler)
    assert records[0] == "127.0.0.1:9/bootstrap: Connect failed: Connection refused (after 0ms)"
    assert records[1] == "a different problem"
    assert records[2].startswith("127.0.0.1:9/bootstrap: Connect failed: Connection refused (after 3ms)")
    assert "49 more like it" in records[2]
    assert len(records) == 3


@pytest.mark.parametrize("level", [logging.DEBUG, logging.ERROR])
def test_other_levels_pass_untouched(level: int) -> None:
    f = RepeatFilter(interval=30.0, clock=lambda: 0.0)
    rec = logging.LogRecord("x", level, __file__, 1, "same", None, None)
    assert f.filter(rec) is True
    rec2 = logging.LogRecord("x", level, __file__, 1, "same", None, None)
    assert f.filter(rec2) is (level == logging.DEBUG)
