"""Component statuses: typed, every time in seconds, and one line the Overview can show as is."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.request
from datetime import timedelta

from collectors.derive.component import Deriver
from collectors.otlp import OtlpConfig, OtlpReceiver
from collectors.otlp.ingest import Result
from collectors.status import (
    DeriveStatus,
    LagStatus,
    OtlpStatus,
    RetentionStatus,
    TapStatus,
    Unreported,
    fmt_age,
    fmt_bytes,
    us_to_s,
)
from collectors.store.retention import Retention

NOW = 1_800_000_000.0  # an instant, in epoch seconds like every *_at field
ONE_SPAN = {"resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders-api"}}]},
    "scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                               "name": "GET /orders", "kind": 2, "startTimeUnixNano": "1700000000000000000",
                               "endTimeUnixNano": "1700000000001000000"}]}]}]}


def test_tap_line_names_its_units() -> None:
    s = TapStatus(state="running", path="native", records=1_234_567, batches=40, errors=0, partitions=12,
                  topics=("shop.orders", "shop.payments"), last_flush_at=NOW - 17)
    assert s.describe(NOW) == ("running · 1,234,567 records in 40 batches · 12 partitions of 2 topics · "
                               "native path · last write 17 s ago")
    trouble = dataclasses.replace(s, state="retrying", errors=3, slow_path_records=1, last_flush_at=None,
                                  last_error="_TRANSPORT: broker down")
    assert trouble.describe(NOW).split(" · ")[4:] == [
        "no write yet", "3 ingest errors", "1 record on the slow path", "last error: _TRANSPORT: broker down"]


def test_tap_line_says_what_the_schema_registry_decoded_only_when_there_is_one() -> None:
    s = TapStatus(state="running", path="bulk", records=60, batches=2, errors=50, partitions=1, topics=("shop.accounts",),
                  schema_registry={"url": "http://registry:8081"}, wire_decoded=10, wire_kept_raw=50)
    assert s.describe(NOW).split(" · ")[3:5] == ["bulk path", "schema registry: 10 decoded, 50 kept raw"]
    assert "schema registry" not in dataclasses.replace(s, schema_registry=None).describe(NOW)


def test_lag_line_says_how_often_and_how_long_ago() -> None:
    s = LagStatus(state="running", interval_s=10.0, polls=1, groups=3, partitions=1, last_poll_at=NOW - 150)
    assert s.describe(NOW) == "running · 1 poll, one every 10 s · 3 groups, 1 partition · last poll 2 min ago"
    assert "2 failed polls" in dataclasses.replace(s, failures=2).describe(NOW)


def test_otlp_line_shows_refusals_only_when_there_are_some() -> None:
    by_result = {"ok": 7, "partial": 0, "bad_request": 0, "too_large": 0, "unsupported": 0, "overloaded": 0, "busy": 0}
    s = OtlpStatus(http="127.0.0.1:4318", grpc=None, requests=7, requests_by_result=by_result, spans_accepted=7,
                   spans_rejected=0, spans_written=7, batches=1, queued_rows=0, last_flush_at=NOW - 3,
                   last_flush_s=0.0123)
    assert s.describe(NOW) == ("HTTP 127.0.0.1:4318 · 7 requests, 7 spans accepted · "
                               "7 written in 1 batch · last write 3 s ago (took 12 ms)")
    bad = dataclasses.replace(s, grpc="0.0.0.0:4317", requests_by_result={**by_result, "bad_request": 2, "busy": 1},
                              rows_lost=20)
    line = bad.describe(NOW)
    assert line.startswith("HTTP 127.0.0.1:4318, gRPC 0.0.0.0:4317 · 7 requests")
    assert "refused: 2 bad request, 1 busy" in line and "20 rows lost" in line
    failing = dataclasses.replace(s, queued_rows=1_200, queued_bytes=3 * 1024 * 1024 + 200_000,
                                  write_failing="the disk holding shop.duckdb is full (No space left on device)",
                                  write_failures=4, duplicates_skipped=10, rows_unwritten=5)
    assert failing.describe(NOW).split(" · ")[3:] == [
        "1,200 queued (3.2 MiB)", "last write 3 s ago (took 12 ms)",
        "writes failing: the disk holding shop.duckdb is full (No space left on device)", "4 failed writes",
        "10 duplicate spans skipped", "5 rows unwritten at stop"]
    assert [fmt_bytes(n) for n in (812, 3_500, 12 * 1024 * 1024)] == ["812 B", "3.4 KiB", "12.0 MiB"]


def test_derive_retention_and_unreported_lines() -> None:
    d = DeriveStatus(traces=1, segments=2, messages=0, snapshots=0, pending=7, quiet_for_s=30.0, last_run_at=NOW - 4)
    assert d.describe(NOW) == ("1 trace, 2 segments, 0 messages, 0 snapshots derived · "
                               "7 traces waiting to be quiet for 30 s · last run 4 s ago")
    r = RetentionStatus(retain_s=7 * 86400, runs=1, deleted=0, last_run_at=NOW - 19)
    assert r.describe(NOW) == "keeps 7 d · 1 run · 0 rows deleted · last run 19 s ago"
    assert Unreported("boom").describe() == "status unavailable: boom"


def test_times_read_in_seconds() -> None:
    assert us_to_s(1_800_000_000_000_000) == NOW and us_to_s(None) is None
    assert [fmt_age(s) for s in (4, 720, 3 * 3600, 2 * 86400, -30)] == ["4 s", "12 min", "3 h", "2 d",
                                                                        "in 30 s (clock skew?)"]


def test_components_report_instants_in_epoch_seconds(store) -> None:
    retention = Retention(store, timedelta(days=7))
    retention.run_once()
    deriver = Deriver(store, quiet_for=timedelta(minutes=2))
    deriver.run_once()
    for status in (retention.status(), deriver.status()):
        assert abs(time.time() - status.last_run_at) < 60, status
    assert retention.status().retain_s == 7 * 86400.0
    assert deriver.status().quiet_for_s == 120.0


def test_otlp_status_is_typed_and_serializable(store) -> None:
    receiver = OtlpReceiver(store, OtlpConfig(http=("127.0.0.1", 0), grpc=None))
    receiver.start()
    try:
        host, port = receiver.http_address
        req = urllib.request.Request(f"http://{host}:{port}/v1/traces", data=json.dumps(ONE_SPAN).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    finally:
        receiver.stop()  # writes what is queued
    status = receiver.status()
    assert isinstance(status, OtlpStatus)
    assert (status.requests, status.requests_by_result["ok"], status.spans_written) == (1, 1, 1)
    assert abs(time.time() - status.last_flush_at) < 60 and 0 <= status.last_flush_s < 60
    assert (status.write_failing, status.queued_rows, status.queued_bytes, status.rows_unwritten) == (None, 0, 0, 0)
    assert set(status.requests_by_result) == {r.value for r in Result}  # every answer the receiver gives
    assert json.loads(json.dumps(dataclasses.asdict(status)))["requests"] == 1
