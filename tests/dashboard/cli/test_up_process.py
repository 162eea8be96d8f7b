"""`seamwatch up` as a real process: it holds the file, others are told who and what to run, Ctrl+C exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from collectors.store import Store
from sample_topology import TOPOLOGY_FILE
from tests.support.net import free_port


def _seamwatch(*args: str) -> list[str]:
    # The installed console script, so the holder of a file shows as "seamwatch <command>".
    script = Path(sys.executable).with_name("seamwatch")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "from dashboard.cli import main; main()", *args]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("seamwatch up did not become healthy")


@pytest.fixture
def up(tmp_path: Path):
    db = tmp_path / "live.duckdb"
    port = free_port()
    proc = subprocess.Popen(_seamwatch("up", "--db", str(db), "--port", str(port), "--topology", str(TOPOLOGY_FILE),
                                       "--retain", "7d", "--refresh", "1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        _wait_healthy(port, proc)
        yield db, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_second_process_is_told_who_holds_the_file(up) -> None:
    db, proc = up
    for command in (("dashboard", "--db", str(db)), ("collect", "--db", str(db), "--bootstrap", "127.0.0.1:1")):
        other = subprocess.run(_seamwatch(*command), capture_output=True, text=True, timeout=60)
        assert other.returncode == 2
        lines = other.stderr.strip().splitlines()
        assert len(lines) == 1, other.stderr
        assert f"held by process {proc.pid} (seamwatch up" in lines[0]
        assert "open the dashboard that process serves" in lines[0]
        assert f"'seamwatch dashboard --db {db}'" in lines[0]


def test_ctrl_c_flushes_and_exits_zero(up) -> None:
    db, proc = up
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "everything flushed and committed" in out
    with Store(db, read_only=True) as store:  # released: another process may open it now
        assert store.counts()["topology_services"] > 0


@pytest.mark.parametrize("holder,advice", [
    ("seamwatch up", "open the dashboard that process serves, or stop it (Ctrl+C) and run 'seamwatch dashboard --db x.duckdb'"),
    ("seamwatch collect", "stop it (Ctrl+C) and run 'seamwatch dashboard --db x.duckdb', or collect with 'seamwatch up'"),
    (None, "stop it first and run 'seamwatch dashboard --db x.duckdb'"),
])
def test_the_held_file_sentence_fits_the_holder(holder: str | None, advice: str) -> None:
    from collectors.errors import StoreLockedError

    text = str(StoreLockedError("x.duckdb", 4242, holder))
    assert text.startswith("x.duckdb is held by process 4242")
    assert advice in text and "\n" not in text
