"""A lake's data path full under a running `seamwatch collect` (collectors/store/faults.py): the
receiver answers 503 meanwhile, says so in one line, and once there is room again writes what it
held: every acknowledged span stored once.

The data path is a real 1 MiB tmpfs, so "No space left on device" comes from the kernel; growing
it (remount) is the operator making room.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from collectors.store import Store
from tests.collectors.otlp.conftest import post
from tests.collectors.otlp.requests import request
from tests.collectors.otlp.test_collect_cli import _wait_listening
from tests.conftest import lake_on
from tests.hostile.conftest import tmpfs
from tests.hostile.test_otlp_signals import SEAMWATCH
from tests.support.net import free_port

pytestmark = pytest.mark.lake
SPANS = 500  # per request


def test_a_full_data_path_under_collect_is_one_line_then_everything_acknowledged_is_written(
        postgres, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        lake = lake_on(postgres, disk / "lake")
        port = free_port()
        proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", lake, "--otlp-http", f"127.0.0.1:{port}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        statuses: list[int] = []
        try:
            _wait_listening(port, proc)
            deadline = time.monotonic() + 60
            while 503 not in statuses:
                assert time.monotonic() < deadline, "the data path never filled up"
                statuses.append(post(("127.0.0.1", port), request(SPANS).SerializeToString())[0])
                time.sleep(0.05)
            for _ in range(3):  # while it is full, nothing more is taken
                time.sleep(0.3)
                statuses.append(post(("127.0.0.1", port), request(SPANS).SerializeToString())[0])
            assert statuses[-3:] == [503, 503, 503]
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # room again
            deadline = time.monotonic() + 60
            while (status := post(("127.0.0.1", port), request(SPANS).SerializeToString())[0]) != 200:
                assert time.monotonic() < deadline, "the receiver never took requests again"
                time.sleep(0.2)
            statuses.append(status)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        full = [ln for ln in err.splitlines() if "collectors.otlp.writer" in ln and "data path is full" in ln]
        assert len(full) == 1, err[-3000:]
        assert "No space left on device" in full[0] and str(disk / "lake") in full[0]
        assert "works again" in err
        with Store(lake, read_only=True) as s:
            stored = s.cursor().execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchone()
        acknowledged = statuses.count(200) * SPANS
        assert set(statuses) == {200, 503} and stored == (acknowledged, acknowledged)


def test_a_read_only_data_path_is_one_sentence_and_the_batch_commits_once_it_is_writable(
        postgres, tmp_path: Path) -> None:
    import duckdb

    from collectors.model import RECORD_SCHEMA, to_table
    from collectors.normalize.records import record_row
    from collectors.store import faults

    rows = to_table([record_row(cluster="c", topic="t", partition=0, offset=o, key=b"k", value=b'{"a": 1}' * 20,
                                headers=[], timestamp_ms=1_700_000_000_000 + o, timestamp_type=1, tapped_at_us=0,
                                source="test") for o in range(500)], RECORD_SCHEMA)  # past inlining: a Parquet file
    with tmpfs(tmp_path / "disk", "8m") as disk:
        lake = lake_on(postgres, disk / "lake")
        with Store(lake) as s:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            try:
                with pytest.raises(duckdb.Error) as err:
                    s.append({"records": rows}, positions=[("c", "t", 0, 500)])
            finally:
                subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
            fault = faults.classify(err.value, lake)
            assert fault.kind == faults.DATA_PATH_UNWRITABLE and fault.transient
            assert fault.reason.startswith(f"cannot write to the lake's data path ({disk / 'lake'}")
            assert fault.reason.endswith(": Read-only file system") and "\n" not in fault.reason
            s.append({"records": rows}, positions=[("c", "t", 0, 500)])
            assert s.counts()["records"] == 500 and s.positions("c") == {("t", 0): 500}
