"""Kafka settings: librdkafka pass-through, properties files, secrets kept out of sight."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from collectors.errors import ConfigError
from collectors.kafka.config import KafkaSettings, merge_extra, parse_x
from dashboard.cli import cli


def test_properties_file_then_x_wins(tmp_path) -> None:
    props = tmp_path / "client.properties"
    props.write_text("# prod\nsecurity.protocol=SASL_SSL\nsasl.mechanism: SCRAM-SHA-512\n"
                     "sasl.username = sre\nsasl.password=hunter2\nssl.ca.location=/etc/ca.pem\n")
    extra = merge_extra(str(props), ["sasl.mechanism=PLAIN", "client.rack=eu-1a"])
    assert extra == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "sre",
                     "sasl.password": "hunter2", "ssl.ca.location": "/etc/ca.pem", "client.rack": "eu-1a"}
    s = KafkaSettings(bootstrap=["b1:9092", "b2:9092"], extra=extra)
    assert s.client_conf()["sasl.password"] == "hunter2"  # passed through to librdkafka as given
    assert s.describe()["extra"]["sasl.password"] == "***"
    assert s.cluster_name == "b1:9092"


@pytest.mark.parametrize(("items", "message"), [
    (["no-equals-sign"], "key=value"),
    (["group.id=mine"], "managed by the tap"),
    (["enable.auto.commit=true"], "managed by the tap"),
])
def test_bad_settings_are_one_clear_sentence(items, message) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSettings(bootstrap=["b:9092"], extra=parse_x(items))


def test_topic_patterns() -> None:
    s = KafkaSettings(bootstrap=["b:9092"], include=("shop.*", "audit"), exclude=("__*", "*.secret"))
    assert [t for t in ("shop.orders", "shop.secret", "audit", "__consumer_offsets", "other") if s.wants(t)] == [
        "shop.orders", "audit"]


def test_lag_topic_patterns_count_internal_topics() -> None:
    # by default the lag poller keeps every topic, internal ones too: a group reading one has lag
    s = KafkaSettings(bootstrap=["b:9092"])
    assert [t for t in ("orders", "_confluent-monitoring", "__amazon_msk_canary") if s.lag_wants(t)] == [
        "orders", "_confluent-monitoring", "__amazon_msk_canary"]
    assert not s.wants("_confluent-monitoring")  # which the tap never reads
    # nor Kafka Connect's own topics, under the names deployments give them
    connect = ("connect-offsets", "docker-connect-configs", "connect-cluster-status", "my-connect-offsets")
    assert [t for t in connect if s.wants(t)] == [] and all(s.lag_wants(t) for t in connect)
    assert s.wants("shop.offsets") and s.wants("payments-status")
    s = KafkaSettings(bootstrap=["b:9092"], include=("shop.*",), exclude=("*.bench",))
    assert [t for t in ("shop.orders", "shop.bench", "other") if s.lag_wants(t)] == ["shop.orders"]


def test_group_patterns() -> None:
    s = KafkaSettings(bootstrap=["b:9092"], group_id="seamwatch-tap", groups=("shop-*", "billing"),
                      exclude_groups=("*-test", "*-bench*"))
    names = ("shop-fulfillment", "shop-load-test", "shop-bench-7", "billing", "billing-old", "seamwatch-tap")
    assert [g for g in names if s.wants_group(g)] == ["shop-fulfillment", "billing"]
    everything = KafkaSettings(bootstrap=["b:9092"])
    assert [g for g in ("any", "seamwatch-tap") if everything.wants_group(g)] == ["any"]  # never the tap's own


@pytest.mark.parametrize("option", ["--group", "--exclude-group"])
def test_cli_reports_empty_group_pattern_in_one_line(tmp_path, option) -> None:
    res = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "s.duckdb"), "--bootstrap", "127.0.0.1:1",
                                   option, " "])
    assert res.exit_code == 2
    assert "--group and --exclude-group need a glob PATTERN" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s.duckdb").exists()


def test_cli_reports_bad_x_without_traceback(tmp_path) -> None:
    res = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "s.duckdb"), "--bootstrap", "127.0.0.1:1",
                                   "-X", "sasl.password"])
    assert res.exit_code == 2
    assert "-X expects key=value" in res.output and "Traceback" not in res.output


@pytest.mark.kafka
def test_secrets_never_reach_logs_or_status(store, bootstrap, caplog) -> None:
    from collectors.kafka.tap import KafkaTap
    from tests.collectors.kafka.conftest import wait_for

    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=("nothing-*",),
                             extra=parse_x(["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
                                            "sasl.username=sre", "sasl.password=hunter2-secret"]))
    tap = KafkaTap(store, settings)
    with caplog.at_level(logging.DEBUG):
        tap.start()
        try:
            wait_for(lambda: tap.status().last_error, timeout=30, what="an authentication error")
        finally:
            tap.stop()
    assert "hunter2-secret" not in caplog.text
    assert "hunter2-secret" not in repr(tap.status())
