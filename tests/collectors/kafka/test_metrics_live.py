"""On a real broker: `seamwatch collect`'s lag poller → store → /metrics → a real Prometheus, queried over HTTP."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from tests.collectors.kafka.conftest import wait_for
from tests.support.net import free_port
from tests.support.processes import interrupt
from tests.support.prometheus import prometheus

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]


def _seamwatch(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("seamwatch")
    return [str(script), *args] if script.is_file() else [sys.executable, "-c",
                                                         "from dashboard.cli import main; main()", *args]


def test_prometheus_reads_a_live_groups_lag_from_collect(bootstrap, topic_factory, produce, consumer_factory,
                                                         tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    topic = topic_factory(name=f"metrics-{run}.orders")
    produce(topic, [(b"k", b"{}", None)] * 30)
    group = f"billing-{run}"
    committer = consumer_factory(group)
    committer.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)  # 20 messages behind
    committer.close()

    metrics_port = free_port()
    collect = subprocess.Popen(_seamwatch("collect", "--db", str(tmp_path / "live.duckdb"), "--bootstrap", bootstrap,
                                          "--cluster", "live", "--no-tap", "--poll-interval", "1",
                                          "--metrics", f"127.0.0.1:{metrics_port}", "--alert-interval", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with prometheus(tmp_path, targets=[f"127.0.0.1:{metrics_port}"]) as prom:
            selector = f'{{cluster_name="live",group="{group}",topic="{topic}",partition="0"}}'
            lag = wait_for(lambda: prom.query(f"kafka_consumergroup_group_lag{selector}"), timeout=90,
                           interval=0.5, what="the group's lag in Prometheus")
            assert float(lag[0]["value"][1]) == 20
            offset = prom.query(f"kafka_consumergroup_group_offset{selector}")
            assert float(offset[0]["value"][1]) == 10
            end = prom.query(f'kafka_partition_latest_offset{{cluster_name="live",topic="{topic}",partition="0"}}')
            assert float(end[0]["value"][1]) == 30
            polls = prom.query("seamwatch_lag_polls_total")
            assert float(polls[0]["value"][1]) >= 1
    finally:
        out = interrupt(collect, timeout=60)
    assert collect.returncode == 0, out
