"""On a lake, one lag poller polls a cluster; a standby takes over when it dies (docs/architecture.md#many-collectors)."""

from __future__ import annotations

import time
import uuid

import pytest

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.store import Store
from tests.collectors.kafka.conftest import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.lake]


def _poll_times(store: Store, cluster: str) -> list:
    return [r[0] for r in store.cursor().execute(
        "SELECT DISTINCT observed_at FROM topic_offsets WHERE cluster = ? ORDER BY 1", [cluster]).fetchall()]


def test_one_poller_polls_and_a_standby_takes_over_within_an_interval(new_lake, bootstrap, topic_factory) -> None:
    topic = topic_factory("lease")
    cluster = f"lease-{uuid.uuid4().hex[:6]}"
    lake = new_lake()
    interval = 2.0
    settings = KafkaSettings(bootstrap=[bootstrap], cluster=cluster, include=(topic,), poll_interval=interval)
    with Store(lake) as one, Store(lake) as two:
        first, second = LagPoller(one, settings), LagPoller(two, settings)
        first.start()
        wait_for(lambda: first.status().polls >= 1, timeout=60, what="the first poller's first poll")
        second.start()
        try:
            time.sleep(interval * 3)
            assert second.status().state == "standby" and second.status().polls == 0
            assert first.status().state == "running" and first.status().polls >= 3
            # the holder dies: its thread ends without giving the lease back, as a killed process would
            first._stop.set()
            first._thread.join(30)
            died = time.time()
            wait_for(lambda: second.status().polls >= 1, timeout=interval * 4, what="the standby to take over")
            assert time.time() - died <= interval * 2 + 1
        finally:
            second.stop()
            first.stop()
        times = _poll_times(one, cluster)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) <= interval * 2.5, gaps  # no more than one poll missed
    assert all(g >= interval * 0.5 for g in gaps), gaps  # never two pollers at once
