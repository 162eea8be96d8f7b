"""A real Prometheus scrapes a running `seamwatch collect`, and loads the README's alert rules.

Debian's prometheus package (prometheus and promtool); each test starts its own server with a
temporary config and data dir on a free port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.net import free_port
from tests.support.processes import interrupt
from tests.support.prometheus import binary, prometheus, readme_rules

pytestmark = pytest.mark.prometheus


def _seamwatch(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("seamwatch")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "from dashboard.cli import main; main()", *args]


def _offsets_file(path: Path) -> Path:
    """Ten minutes of polls ending now: 'billing' stuck at offset 10 while orders/0 grows; 'audit' keeps up."""
    now_ms = int(time.time() * 1000)
    lines = []
    for i in range(21):
        at = now_ms - (20 - i) * 30_000
        end = 15 + i * 5
        lines.append({"cluster": "prod", "group_id": "billing", "topic": "orders", "partition": 0,
                      "committed_offset": 10, "high_watermark": end, "state": "Stable", "members": 1,
                      "client_id": "billing-1", "polled_at": at})
        lines.append({"cluster": "prod", "group_id": "audit", "topic": "orders", "partition": 0,
                      "committed_offset": end, "high_watermark": end, "state": "Stable", "members": 1,
                      "client_id": "audit-1", "polled_at": at})
        lines.append({"cluster": "prod", "topic": "orders", "partition": 0, "low_watermark": 0,
                      "high_watermark": end, "observed_at": at})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _until(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_prometheus_scrapes_lag_from_a_running_collect_and_fires_the_readme_rules(tmp_path: Path) -> None:
    binary("prometheus")
    db = tmp_path / "live.duckdb"
    imported = subprocess.run(_seamwatch("import", str(_offsets_file(tmp_path / "offsets.jsonl")), "--db", str(db)),
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    rules = tmp_path / "seamwatch.rules.yml"
    rules.write_text(readme_rules())
    metrics_port = free_port()
    collect = subprocess.Popen(_seamwatch("collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{free_port()}",
                                          "--metrics", f"127.0.0.1:{metrics_port}", "--alert-interval", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with prometheus(tmp_path, targets=[f"127.0.0.1:{metrics_port}"], rule_files=[rules]) as prom:
            billing = 'kafka_consumergroup_group_lag{cluster_name="prod",group="billing",topic="orders",partition="0"}'
            series = _until("the billing lag series", lambda: prom.query(billing))
            assert float(series[0]["value"][1]) == 115 - 10  # the last end offset minus the stuck commit
            assert series[0]["metric"]["job"] == "seamwatch"
            audit = _until("the audit lag series",
                           lambda: prom.query('kafka_consumergroup_group_lag{group="audit"}'))
            assert float(audit[0]["value"][1]) == 0
            seconds = _until("the time lag", lambda: prom.query('kafka_consumergroup_group_max_lag_seconds{group="billing"}'))
            assert float(seconds[0]["value"][1]) > 300  # stuck at offset 10 for ten minutes
            status = prom.query('seamwatch_consumergroup_status{group="billing",status="ERR"}')
            assert float(status[0]["value"][1]) == 1
            findings = _until("the findings", lambda: prom.query(
                'seamwatch_findings_open{rule="CONSUMER_LAG",severity="error"} > 0'))
            assert float(findings[0]["value"][1]) == 1  # billing; audit keeps up
            spans = prom.query("seamwatch_spans_ingested_total")
            assert float(spans[0]["value"][1]) == 0  # the receiver runs and got nothing

            # the README's rules loaded, healthy, and both alerts on for billing only (pending: their 'for' runs)
            groups = prom.get("/api/v1/rules")["groups"]
            loaded = {r["name"]: r for g in groups for r in g["rules"]}
            assert set(loaded) == {"KafkaConsumerGroupError", "KafkaConsumerGroupTimeLag"}
            assert all(r["health"] == "ok" for r in loaded.values()), loaded

            def alerting() -> dict[str, set[str]]:
                out: dict[str, set[str]] = {}
                for a in prom.get("/api/v1/alerts")["alerts"]:
                    out.setdefault(a["labels"]["alertname"], set()).add(a["labels"]["group"])
                return out if len(out) == 2 else {}

            assert _until("both alerts", alerting) == {"KafkaConsumerGroupError": {"billing"},
                                                       "KafkaConsumerGroupTimeLag": {"billing"}}

        # the exposition itself passes Prometheus' own linter (names, units, _total on counters)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
            exposition = answer.read()
        assert b"kafka_consumergroup_group_lag{" in exposition
        linted = subprocess.run([binary("promtool"), "check", "metrics"], input=exposition, capture_output=True,
                                timeout=60)
        assert linted.returncode == 0 and not linted.stdout.strip() and not linted.stderr.strip(), linted
    finally:
        out = interrupt(collect, timeout=60)
    assert collect.returncode == 0, out


def test_promtool_accepts_the_readme_rules(tmp_path: Path) -> None:
    rules = tmp_path / "seamwatch.rules.yml"
    rules.write_text(readme_rules())
    checked = subprocess.run([binary("promtool"), "check", "rules", str(rules)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail: a rule with a PromQL syntax error is refused."""
    rules = tmp_path / "broken.rules.yml"
    rules.write_text(readme_rules().replace("> 300", "> > 300"))
    checked = subprocess.run([binary("promtool"), "check", "rules", str(rules)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode != 0


def test_the_readme_rules_fire_after_their_for_with_readable_annotations(tmp_path: Path) -> None:
    """promtool's rule unit tests: synthetic series in, the alerts and their texts out."""
    (tmp_path / "seamwatch.rules.yml").write_text(readme_rules())
    lag = {"cluster_name": "prod", "group": "billing"}
    series = [
        {"series": 'seamwatch_consumergroup_status{cluster_name="prod",group="billing",status="ERR"}',
         "values": "0 0 1x10"},  # ERR from minute 2
        {"series": 'seamwatch_consumergroup_status{cluster_name="prod",group="audit",status="ERR"}',
         "values": "0x12"},
        {"series": 'kafka_consumergroup_group_max_lag_seconds{cluster_name="prod",group="billing"}',
         "values": "100 200 400x10"},  # over 300 s from minute 2
    ]
    tests = {"rule_files": ["seamwatch.rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "KafkaConsumerGroupError", "exp_alerts": []},  # 'for: 2m' not over
            {"eval_time": "4m", "alertname": "KafkaConsumerGroupError", "exp_alerts": [{
                "exp_labels": {**lag, "status": "ERR", "severity": "critical"},
                "exp_annotations": {
                    "summary": "Consumer group billing on prod is ERR by Burrow's rules",
                    "description": "A partition stopped, stalled or rewound; see the Event lag page for which one "
                                   "and why."}}]},
            {"eval_time": "6m", "alertname": "KafkaConsumerGroupTimeLag", "exp_alerts": []},
            {"eval_time": "7m", "alertname": "KafkaConsumerGroupTimeLag", "exp_alerts": [{
                "exp_labels": {**lag, "severity": "warning"},
                "exp_annotations": {"summary": "Consumer group billing on prod is 6m 40s behind"}}]},
        ]}]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = subprocess.run([binary("promtool"), "test", "rules", "tests.yml"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
