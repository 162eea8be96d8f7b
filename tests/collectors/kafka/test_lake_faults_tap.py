"""A `seamwatch collect` tapping into a lake through faults (collectors/store/faults.py): its batches
conflicting with another writer's deletes are committed again in place, PostgreSQL restarted
mid-stream is waited out, and so is the lake's object storage (S3) killed and started again; the
lake then holds the topic record for record, and each fault is one line of the log."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.collectors.kafka.conftest import wait_for
from tests.collectors.kafka.test_many_collectors import _stored, _topic_contents
from tests.collectors.store.test_lake_faults import Deleter
from tests.conftest import lake_on, s3_env
from tests.support.kafka_stream import Feeder
from tests.support.net import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.lake]


class Collector:
    """A `seamwatch collect -v` process and its output, read line by line as it comes."""

    def __init__(self, args: list[str]) -> None:
        # -v: the conflicts' lines are INFO (nothing is wrong)
        self.proc = subprocess.Popen([sys.executable, "-c", "from dashboard.cli import main; main()", "-v", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def said(self, *words: str) -> list[str]:
        """The tap's lines with every one of ``words``, so far."""
        return [ln for ln in list(self.lines) if "kafka-tap[test]" in ln and all(w in ln for w in words)]

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; its whole output."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=30)
        return "\n".join(self.lines)


@contextlib.contextmanager
def tapping(lake: str, bootstrap: str, topic_factory, produce, consumer_factory, *options: str,
            limit: int = 40_000) -> Iterator[Collector]:
    """`seamwatch collect` tapping a 2-partition topic into ``lake`` while records arrive. The body
    plays a fault once the first batches are in the lake, and must be done while records still
    arrive; then the tap catches up, stops on SIGTERM with exit code 0 and no traceback, and the
    lake holds the topic record for record: nothing lost, nothing twice."""
    topic = topic_factory("lakefaults", partitions=2)
    feeder = Feeder(produce, topic, partitions=2, batch=100, limit=limit)
    collect = Collector(["collect", "--db", lake, "--bootstrap", bootstrap, "--cluster", "test", "--topic", topic,
                         "--from-beginning", "--tap-group", f"tap-{uuid.uuid4().hex[:6]}", *options])
    try:
        try:
            wait_for(lambda: len(_stored(lake, topic)) > 0, timeout=90, what="the first batches in the lake")
            yield collect
            assert feeder.alive(), "the fault should be over while records still arrive"
        finally:
            total = feeder.stop()
        wait_for(lambda: len(_stored(lake, topic)) >= total, timeout=120, what="the tap to catch up")
        time.sleep(2)  # anything repeated would arrive now
    finally:
        out = collect.stop()
    assert collect.proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert _stored(lake, topic) == _topic_contents(consumer_factory, topic, total)


def test_a_tap_into_a_lake_rides_out_conflicts_and_a_postgres_restart_losing_and_repeating_nothing(
        own_postgres, tmp_path: Path, bootstrap, topic_factory, produce, consumer_factory) -> None:
    lake = lake_on(own_postgres, tmp_path / "lake")
    with tapping(lake, bootstrap, topic_factory, produce, consumer_factory) as collect:
        deleter = Deleter(lake, "records", "key", seconds=3.0)  # retention-like deletes of records
        deleter.join()
        assert deleter.deletes > 0
        own_postgres.restart(down_for=3.0)
    conflicts = collect.said("conflicted with another writer")
    assert conflicts and all("committing it again" in ln for ln in conflicts), collect.said()
    outage = collect.said("failed, resuming")
    assert len(outage) == 1 and "the lake's catalog (PostgreSQL" in outage[0], outage
    assert not [ln for ln in outage if "conflict" in ln], "a conflict must not end the tap's session"
    assert collect.said("works again")


def _scrape(address: str) -> dict[str, float]:
    """The collector's /metrics, one value per sample name and labels ('name{k="v",...}')."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:  # noqa: S310 (loopback)
        text = answer.read().decode()
    return {s.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_tap_into_a_lake_on_s3_rides_out_the_server_killed_and_restarted_losing_and_repeating_nothing(
        postgres, own_s3_server, monkeypatch, bootstrap, topic_factory, produce, consumer_factory) -> None:
    prefix = s3_env(monkeypatch, own_s3_server)  # the collector's environment too
    lake = lake_on(postgres, prefix)
    metrics = f"127.0.0.1:{free_port()}"
    tap_age = 'seamwatch_last_commit_age_seconds{component="tap"}'
    # /metrics: the collector's health as Prometheus reads it; and the findings watch, which reads
    # the lake every second (--alert-interval), meets the outage too
    with tapping(lake, bootstrap, topic_factory, produce, consumer_factory, "--metrics", metrics,
                 "--alert-interval", "1", "--poll-interval", "1", limit=100_000) as collect:
        own_s3_server.kill()
        try:
            wait_for(lambda: collect.said("failed, resuming"), timeout=60, what="the tap to notice S3 is gone")
            # records keep arriving, the tap commits none: its last commit ages (it commits every 1 s otherwise)
            wait_for(lambda: _scrape(metrics)[tap_age] >= 5, timeout=30, interval=1,
                     what="the tap's last commit to age in /metrics")
        finally:
            own_s3_server.start()  # the same ports and folder
        wait_for(lambda: collect.said("works again"), timeout=90, what="the tap to write again")
        wait_for(lambda: _scrape(metrics)[tap_age] < 5, timeout=30, interval=1,
                 what="the tap's last commit to be recent again in /metrics")
    outage = collect.said("failed, resuming")
    assert len(outage) == 1, outage  # one line for the outage, not one per retry
    assert outage[0].endswith(f"the lake's data path ({prefix}main/records/) cannot be reached: "
                              "Could not connect to server"), outage
    assert len(collect.said("works again")) == 1
    # the whole process: each part that met the outage said so once, naming the data path, never an object's URL
    said = [ln for ln in collect.lines if (" WARNING " in ln or " ERROR " in ln) and "cannot be reached" in ln]
    by_part = Counter(ln.split()[3] for ln in said)
    assert by_part and max(by_part.values()) == 1, said
    assert not [ln for ln in collect.lines if own_s3_server.endpoint in ln], "an object's URL was logged"
