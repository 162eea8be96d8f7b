"""The collectors' periodic work on a lake (lag poller, deriver, retention, maintenance) through a
PostgreSQL outage: each one says the catalog is gone, once, without a traceback, shows it in its
status instead of claiming to stand by, outlives the outage and carries on when the catalog is back."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from collectors.derive.component import Deriver
from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.store import Store
from collectors.store.lake_maintenance import LakeMaintenance
from collectors.store.retention import Retention
from tests.collectors.kafka.conftest import wait_for
from tests.conftest import lake_on

pytestmark = [pytest.mark.kafka, pytest.mark.lake]
EVERY = 0.5  # seconds between passes: many passes meet the outage
OUTAGE = 4.0


def test_periodic_work_says_a_catalog_outage_once_and_resumes_after_it(own_postgres, tmp_path: Path, bootstrap,
                                                                      topic_factory, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="collectors")
    topic = topic_factory("outage")
    cluster = f"outage-{uuid.uuid4().hex[:6]}"
    location = lake_on(own_postgres, tmp_path / "lake")
    settings = KafkaSettings(bootstrap=[bootstrap], cluster=cluster, include=(topic,), poll_interval=EVERY)
    with Store(location) as store:
        poller = LagPoller(store, settings)
        deriver = Deriver(store, every=EVERY, quiet_for=timedelta(0))
        retention = Retention(store, timedelta(days=1), every=EVERY)
        maintenance = LakeMaintenance(store, every=EVERY, keep=timedelta(0))
        parts = [poller, deriver, retention, maintenance]
        for part in parts:
            part.start()
        try:
            wait_for(lambda: poller.status().polls >= 1 and retention.status().runs >= 1
                     and maintenance.status().runs >= 1, timeout=60, what="a first pass of each")
            own_postgres.stop(mode="immediate")
            try:
                down = time.monotonic()
                wait_for(lambda: poller.status().last_error and retention.status().error
                         and maintenance.status().error, timeout=30, what="each to notice the outage")
                time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))  # several passes into the outage
                during = (poller.status(), retention.status(), maintenance.status(), deriver.status())
            finally:
                own_postgres.start()
            before = (poller.status().polls, retention.status().runs, maintenance.status().runs)
            wait_for(lambda: poller.status().polls > before[0] and retention.status().runs > before[1]
                     and maintenance.status().runs > before[2] and retention.status().error is None
                     and maintenance.status().error is None, timeout=60, what="each to carry on after the outage")
            assert all(part._thread is not None and part._thread.is_alive() for part in parts)
        finally:
            for part in reversed(parts):
                part.stop()
    lag, kept, maintained, derived = during
    catalog = "the lake's catalog (PostgreSQL host=127.0.0.1 port="
    assert lag.state == "retrying" and catalog in lag.last_error, lag  # not "standby": nobody else polls
    assert catalog in kept.error and catalog in maintained.error
    assert not maintained.standby
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING), "a traceback was logged"
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "cannot be reached" in r.getMessage()]
    for what in ("retention failed", "lake maintenance failed", f"kafka-lag[{cluster}]: poll failed"):
        lines = [m for m in said if m.startswith(what)]
        assert len(lines) == 1, (what, said)  # one line for the outage, not one per pass
    for what in ("retention works again", "lake maintenance works again", f"kafka-lag[{cluster}]: polling works again"):
        assert any(r.getMessage() == what for r in caplog.records), what
    assert catalog in derived.last_error
    assert len([m for m in said if m.startswith("derivation failed")]) == 1, said
