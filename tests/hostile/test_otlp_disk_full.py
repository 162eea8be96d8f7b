"""Case 1 of the hostile-input issue: a full disk loses nothing that was answered 200/OK.

The store lives on a real small tmpfs, so the kernel itself says "No space left on device".
"""

from __future__ import annotations

import contextlib
import logging
import time

import grpc
import pytest

from collectors.otlp import OtlpReceiver
from collectors.store import Store
from tests.collectors.otlp.conftest import FAST, post
from tests.collectors.otlp.requests import request
from tests.hostile.conftest import fill

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS = 500  # per request


@pytest.mark.slow
def test_disk_full_answers_503_keeps_what_was_acknowledged_and_recovers(small_disk, caplog):
    caplog.set_level(logging.WARNING, logger="collectors.otlp")
    db = small_disk / "store.duckdb"
    with Store(db) as store:
        filler = fill(small_disk, leave=2 * 1024 * 1024)
        receiver = OtlpReceiver(store, FAST)
        receiver.start()
        acknowledged, refused = 0, []
        try:
            deadline = time.monotonic() + 60
            while len(refused) < 3 and time.monotonic() < deadline:
                status, headers, _ = post(receiver.http_address, request(SPANS).SerializeToString())
                if status == 200:
                    acknowledged += 1
                else:
                    refused.append((status, headers.get("retry-after")))
                    time.sleep(0.2)
            assert refused, "the disk never filled up"
            assert set(refused) == {(503, "1")}, refused
            assert receiver.status().write_failing
            with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address)) as channel:
                with pytest.raises(grpc.RpcError) as err:
                    channel.unary_unary(EXPORT)(request(SPANS).SerializeToString(), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

            filler.unlink()  # the operator frees space: what was held is written, requests are taken again
            deadline = time.monotonic() + 30
            while receiver.status().write_failing and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not receiver.status().write_failing
            assert post(receiver.http_address, request(SPANS).SerializeToString())[0] == 200
            acknowledged += 1
        finally:
            receiver.stop()
        stored = store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]
    assert stored == acknowledged * SPANS
    status = receiver.status()
    assert status.rows_lost == 0 and status.rows_unwritten == 0 and receiver.unsaved() is None
    # said once, in one sentence naming the file, without a traceback
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert full and all(r.exc_info is None for r in caplog.records)
    assert str(db) in full[0].getMessage() and "No space left on device" in full[0].getMessage()
    assert "\n" not in full[0].getMessage()


@pytest.mark.slow
def test_stopping_while_the_disk_is_full_says_what_was_not_written(small_disk):
    with Store(small_disk / "store.duckdb") as store:
        fill(small_disk, leave=2 * 1024 * 1024)
        receiver = OtlpReceiver(store, FAST)
        receiver.start()
        acknowledged = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, _, _ = post(receiver.http_address, request(SPANS).SerializeToString())
            if status != 200:
                break
            acknowledged += 1
        receiver.stop(timeout=1.0)
        stored = store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]
    unwritten = receiver.status().rows_unwritten
    assert unwritten > 0 and stored + unwritten == acknowledged * SPANS
    assert receiver.unsaved() == (f"{unwritten} OTLP spans answered 200/OK could not be written: "
                                  f"the disk holding {small_disk / 'store.duckdb'} is full (No space left on device)")


@pytest.mark.slow
def test_collect_exits_1_and_says_so_when_acknowledged_spans_stay_unwritten(small_disk):
    import signal
    import subprocess

    from tests.collectors.otlp.test_collect_cli import _wait_listening
    from tests.hostile.test_otlp_signals import SEAMWATCH
    from tests.support.net import free_port

    db, port = small_disk / "store.duckdb", free_port()
    proc = subprocess.Popen([*SEAMWATCH, "collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_listening(port, proc)
        fill(small_disk, leave=2 * 1024 * 1024)
        deadline = time.monotonic() + 60
        statuses = []
        while (status := post(("127.0.0.1", port), request(SPANS).SerializeToString())[0]) == 200:
            statuses.append(status)
            assert time.monotonic() < deadline, "the disk never filled up"
        statuses.append(status)
        # a failed write can give space back (DuckDB drops what it could not finish): take it all,
        # so the spans acknowledged before the 503 stay unwritten until the stop
        with open(small_disk / "filler-2", "wb") as rest, contextlib.suppress(OSError):
            while True:
                rest.write(b"\0" * 65536)
                rest.flush()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (statuses, err[-2000:])
    assert "everything flushed and committed" not in out
    assert "not everything was saved" in err and f"the disk holding {db} is full" in err, err
    assert "Traceback" not in err
    assert statuses[-1] == 503 and 200 in statuses
