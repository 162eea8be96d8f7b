"""A `seamwatch collect` tapping into a lake through faults (collectors/store/faults.py): its batches
conflicting with another writer's deletes are committed again in place, and PostgreSQL restarted
mid-stream is waited out; the lake then holds the topic record for record, and each fault is one
line of the log."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.collectors.kafka.conftest import wait_for
from tests.collectors.kafka.test_many_collectors import _stored, _topic_contents
from tests.collectors.store.test_lake_faults import Deleter
from tests.conftest import lake_on
from tests.support.kafka_stream import Feeder

pytestmark = [pytest.mark.kafka, pytest.mark.lake]


def test_a_tap_into_a_lake_rides_out_conflicts_and_a_postgres_restart_losing_and_repeating_nothing(
        own_postgres, tmp_path: Path, bootstrap, topic_factory, produce, consumer_factory) -> None:
    topic = topic_factory("lakefaults", partitions=2)
    lake = lake_on(own_postgres, tmp_path / "lake")
    feeder = Feeder(produce, topic, partitions=2, batch=100, limit=40_000)
    collect = subprocess.Popen(  # -v: the conflicts' lines are INFO (nothing is wrong)
        [sys.executable, "-c", "from dashboard.cli import main; main()", "-v", "collect", "--db", lake,
         "--bootstrap", bootstrap, "--cluster", "test", "--topic", topic, "--from-beginning",
         "--tap-group", f"tap-{uuid.uuid4().hex[:6]}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(_stored(lake, topic)) > 0, timeout=90, what="the first batches in the lake")
        deleter = Deleter(lake, "records", "key", seconds=3.0)  # retention-like deletes of records
        deleter.join()
        assert deleter.deletes > 0
        own_postgres.restart(down_for=3.0)
        assert feeder.alive(), "the restart should land while records still arrive"
    finally:
        total = feeder.stop()
    try:
        wait_for(lambda: len(_stored(lake, topic)) >= total, timeout=120, what="the tap to catch up")
        time.sleep(2)  # anything repeated would arrive now
    finally:
        collect.send_signal(signal.SIGTERM)
        out = collect.communicate(timeout=120)[0].decode()
    assert collect.returncode == 0, out[-3000:]
    assert _stored(lake, topic) == _topic_contents(consumer_factory, topic, total)
    lines = out.splitlines()
    assert "Traceback" not in out, out[-3000:]
    tap = [ln for ln in lines if "kafka-tap[test]" in ln]
    conflicts = [ln for ln in tap if "conflicted with another writer" in ln]
    assert conflicts and all("committing it again" in ln for ln in conflicts), tap
    outage = [ln for ln in tap if "failed, resuming" in ln]
    assert len(outage) == 1 and "the lake's catalog (PostgreSQL" in outage[0], outage
    assert not [ln for ln in outage if "conflict" in ln], "a conflict must not end the tap's session"
    assert [ln for ln in tap if "works again" in ln]
