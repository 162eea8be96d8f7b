"""/metrics as Prometheus reads it: lag, Burrow status, end-to-end p95, open findings, collector health."""

from __future__ import annotations

import logging
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.status import DeriveStatus, LagStatus, OtlpStatus, TapStatus
from dashboard.alerts.metrics import MetricsServer, SeamwatchCollector, parse_metrics_address
from dashboard.alerts.watch import FindingsWatch
from tests.support.builders import T0

END = T0 + timedelta(minutes=2)


def _scrape(server: MetricsServer) -> dict[str, list]:
    with urllib.request.urlopen(f"http://{server.bound}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    found = [v for lab, v in samples.get(name, []) if all(lab.get(k) == want for k, want in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


@pytest.fixture
def lagging(data):
    """'billing' stops committing at offset 10 while orders/0 grows to 60; 'audit' keeps up."""
    for i in range(10):
        t = i * 10.0
        data.poll("billing", "orders", 0, 10, at=t, high_watermark=10 + i * 5 + 5)
        data.poll("audit", "orders", 0, 10 + i * 5 + 5, at=t, high_watermark=10 + i * 5 + 5)
        data.end_offset("orders", 0, 10 + i * 5 + 5, at=t)
    data.settings("orders", retention_ms=600_000)  # kept 10 min
    data.settings("audit-log", retention_ms=-1)  # kept forever: no retention to serve
    for n in range(20):  # producer → consumer pairs 2 s apart: p95 end-to-end lag of 2 s
        trace = data.trace_id()
        prod = data.produce(trace, "shop", "orders", at=n, partition=0, offset=n)
        data.process(trace, "billing-service", "billing", "orders", 0, n, at=n + 2.0, parent=prod)
    data.write()
    return data


def test_metrics_serve_lag_status_p95_findings_and_health(lagging) -> None:
    watch = FindingsWatch(lagging.store, window=timedelta(minutes=15), clock=lambda: END)
    watch.run_once()
    statuses = {
        "tap": TapStatus(state="running", path="native", records=1200, batches=3, errors=7, partitions=4,
                         last_flush_at=1.0),
        "otlp": OtlpStatus(http="127.0.0.1:4318", grpc=None, requests=5, requests_by_result={"ok": 5},
                           spans_accepted=500, spans_rejected=2, spans_written=480, batches=2, queued_rows=20,
                           queued_bytes=4096),
        "derive": DeriveStatus(traces=10, segments=10, messages=10, snapshots=10, pending=3),
        "lag": LagStatus(state="retrying", interval_s=30.0, polls=9, groups=2, partitions=4, failures=3,
                         last_poll_at=1.0, last_error="broker away"),
    }
    collector = SeamwatchCollector(lagging.store, statuses=lambda: statuses, findings=lambda: watch.latest,
                                   window=timedelta(minutes=15), clock=lambda: END)
    server = MetricsServer(("127.0.0.1", 0), collector)
    server.start()
    try:
        m = _scrape(server)
    finally:
        server.stop()
    part = {"cluster_name": "test", "group": "billing", "topic": "orders", "partition": "0"}
    assert _value(m, "kafka_consumergroup_group_lag", **part) == 50  # 60 - 10
    assert _value(m, "kafka_consumergroup_group_offset", **part) == 10
    assert _value(m, "kafka_consumergroup_group_lag_seconds", **part) > 0
    assert _value(m, "kafka_consumergroup_group_lag", group="audit", partition="0") == 0
    # how long billing's oldest unread record is still kept: the retention less its time lag
    assert _value(m, "seamwatch_topic_retention_seconds", topic="orders") == 600
    assert [lab["topic"] for lab, _ in m["seamwatch_topic_retention_seconds"]] == ["orders"]
    assert _value(m, "seamwatch_consumergroup_retention_headroom_seconds", **part) == pytest.approx(
        600 - _value(m, "kafka_consumergroup_group_lag_seconds", **part))
    assert _value(m, "kafka_consumergroup_group_sum_lag", group="billing") == 50
    assert _value(m, "kafka_consumergroup_group_topic_sum_lag", group="billing", topic="orders") == 50
    assert _value(m, "kafka_partition_latest_offset", topic="orders", partition="0") == 60
    assert _value(m, "kafka_partition_earliest_offset", topic="orders", partition="0") == 0
    # Burrow: billing is not OK, audit is; exactly one status is 1 per partition and per group
    billing = {lab["status"]: v for lab, v in m["seamwatch_consumergroup_partition_status"] if lab["group"] == "billing"}
    assert sum(billing.values()) == 1 and billing["OK"] == 0
    assert _value(m, "seamwatch_consumergroup_status", group="billing", status="ERR") == 1
    assert _value(m, "seamwatch_consumergroup_status", group="audit", status="OK") == 1
    assert _value(m, "seamwatch_consumergroup_status_code", group="billing") == 3
    assert _value(m, "seamwatch_consumergroup_e2e_lag_p95_seconds", group="billing", topic="orders") == pytest.approx(2.0)
    assert _value(m, "seamwatch_findings_open", rule="CONSUMER_LAG", severity="error") == 1
    assert _value(m, "seamwatch_findings_open", rule="DEAD_LETTER", severity="error") == 0
    assert _value(m, "seamwatch_records_ingested_total") == 1200
    assert _value(m, "seamwatch_records_rejected_total") == 7
    assert _value(m, "seamwatch_spans_ingested_total") == 500
    assert _value(m, "seamwatch_spans_rejected_total") == 2
    assert _value(m, "seamwatch_queue_rows", component="otlp") == 20
    assert _value(m, "seamwatch_tap_path_info", path="native") == 1
    assert _value(m, "seamwatch_derive_backlog_traces") == 3
    assert _value(m, "seamwatch_last_commit_age_seconds", component="tap") > 0
    # the tap's state, one-hot: an alert on retrying has a 0 to read while it runs
    tap_state = {lab["state"]: v for lab, v in m["seamwatch_component_state"] if lab["component"] == "tap"}
    assert tap_state["running"] == 1 and tap_state["retrying"] == 0 and sum(tap_state.values()) == 1
    assert _value(m, "seamwatch_component_state", component="lag", state="retrying") == 1
    assert _value(m, "seamwatch_lag_poll_failures_total") == 3
    # bounded labels: nothing names a record, trace or offset
    labels = {k for samples in m.values() for lab, _ in samples for k in lab}
    assert labels <= {"cluster_name", "group", "topic", "partition", "status", "rule", "severity", "component", "path",
                      "state"}


def test_a_failing_read_costs_its_families_not_the_scrape(lagging) -> None:
    def broken() -> dict:
        raise RuntimeError("status unavailable")

    collector = SeamwatchCollector(lagging.store, statuses=broken, window=timedelta(minutes=15), clock=lambda: END)
    server = MetricsServer(("127.0.0.1", 0), collector)
    server.start()
    try:
        m = _scrape(server)
    finally:
        server.stop()
    assert _value(m, "kafka_consumergroup_group_lag", group="billing", partition="0") == 50
    assert collector.read_errors == 1 and server.status().read_errors == 1
    assert "1 failed read" in server.status().describe() and "last error: status unavailable" in server.status().describe()


def test_a_read_failing_at_every_scrape_is_said_once_and_its_return_once(lagging, caplog) -> None:
    """Prometheus scrapes every 15 s: a store away for an hour is one line, not 240."""
    away = [True]

    def statuses() -> dict:
        if away[0]:
            raise RuntimeError("status unavailable")
        return {}

    collector = SeamwatchCollector(lagging.store, statuses=statuses, window=timedelta(minutes=15), clock=lambda: END)
    caplog.set_level(logging.DEBUG, logger="dashboard.alerts.metrics")
    for _ in range(5):
        list(collector.collect())
    away[0] = False
    list(collector.collect())
    said = [r.getMessage() for r in caplog.records
            if r.name == "dashboard.alerts.metrics" and r.levelno >= logging.WARNING]
    assert said == ["metrics: health failed: status unavailable", "metrics: health works again"], said
    assert collector.read_errors == 5


@pytest.mark.parametrize(("text", "want"), [("9464", ("127.0.0.1", 9464)), (":9000", ("127.0.0.1", 9000)),
                                           ("0.0.0.0:9464", ("0.0.0.0", 9464)), ("[::1]:9464", ("::1", 9464))])
def test_metrics_address_defaults_to_loopback(text: str, want: tuple[str, int]) -> None:
    assert parse_metrics_address(text) == want


def test_a_bad_metrics_address_is_one_sentence() -> None:
    from collectors.errors import ConfigError

    with pytest.raises(ConfigError, match="--metrics must look like HOST:PORT"):
        parse_metrics_address("localhost")


def test_collect_refuses_a_taken_metrics_port_in_one_sentence(tmp_path) -> None:
    import socket

    from click.testing import CliRunner

    from dashboard.cli import cli
    from tests.support.net import free_port

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "x.duckdb"), "--otlp-http",
                                          f"127.0.0.1:{free_port()}", "--metrics", f"127.0.0.1:{port}"])
    finally:
        taken.close()
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        f"seamwatch: cannot serve metrics on 127.0.0.1:{port} (Address already in use); "
        "choose another address with --metrics"]


@pytest.mark.parametrize(("args", "said"), [
    (["--metrics", "localhost"], "--metrics must look like HOST:PORT"),
    (["--notify", "ftp://example.com/hook"], "--notify needs an http:// or https:// URL"),
    (["--notify", "http://example.com/hook#severity=loud"], "--notify takes URL#severity=LEVEL"),
    (["--metrics", "9464", "--alert-window", "soon"], "--alert-window must be a positive duration"),
])
def test_collect_refuses_bad_alert_options_in_one_sentence(tmp_path, args: list[str], said: str) -> None:
    from click.testing import CliRunner

    from dashboard.cli import cli

    result = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "x.duckdb"), "--otlp-http", "127.0.0.1:0",
                                      *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seamwatch: ") and said in lines[0], lines
