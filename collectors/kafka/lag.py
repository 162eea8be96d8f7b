"""The lag poller: every N seconds, a snapshot of consumer groups and topic watermarks.

A snapshot (collectors/kafka/lag_snapshot.py: the groups, their committed offsets, the
watermarks, the topics' settings) is taken in a child process (collectors/kafka/lag_process.py),
where a librdkafka crash fails one poll instead of ending the collector. The poller writes its
`group_offsets` and `topic_offsets` rows — the (end offset, time) points that time-lag
interpolation and Burrow's status rules read — and the `topic_configs` rows of settings that
changed (the retention LAG_NEAR_RETENTION weighs a group's time lag against) in one transaction
per snapshot, holds the lake's polling lease, and reports its status.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag_process import SnapshotProcess, Stopped
from collectors.kafka.lag_snapshot import OFFSETS_IN_FLIGHT, Rows, Snapshotter, now_us
from collectors.kafka.topic_settings import SettingsLedger
from collectors.logrepeat import rate_limit
from collectors.model import GROUP_OFFSET_SCHEMA, TOPIC_OFFSET_SCHEMA, to_table
from collectors.outage import Outage
from collectors.runtime import ThreadComponent
from collectors.status import LagStatus, us_to_s
from collectors.store import Store, faults
from collectors.store.lease import Lease

log = logging.getLogger(__name__)
rate_limit(log)  # a broker away repeats the same error on every poll


class LagPoller(ThreadComponent):
    """A Component (collectors.runtime) polling group offsets and watermarks on a thread."""

    def __init__(self, store: Store, settings: KafkaSettings, *, isolated: bool = True) -> None:
        self.store = store
        self.settings = settings
        self.cluster = settings.cluster_name
        self.name = f"kafka-lag[{self.cluster}]"
        super().__init__()
        self._lock = threading.Lock()
        # isolated=False takes the snapshots on the poller's thread (tests that watch the admin client)
        self.snapshots: Snapshotter | SnapshotProcess = (
            SnapshotProcess(settings, self._stop) if isolated else Snapshotter(settings))
        self._status: dict[str, Any] = {"state": "stopped", "polls": 0, "groups": 0, "partitions": 0,
                                        "last_poll_at": None, "last_error": None, "failures": 0}
        # on a lake, one collector's poller polls a cluster; the others stand by and take over
        # when its lease runs out, at most half an interval after a poll that did not come
        interval = float(settings.poll_interval)
        self._lease = Lease(store, f"lag:{self.cluster}", ttl=interval * 1.5)
        self._standby_check = max(0.2, interval / 4)
        self._outage = Outage(log, f"{self.name}: polling")
        self.offsets_in_flight = OFFSETS_IN_FLIGHT
        self._topic_settings = SettingsLedger(self.cluster)

    @property
    def offsets_in_flight(self) -> int:
        """Committed-offset requests in flight (1: one group after the other, as `bench lag` compares)."""
        return self.snapshots.offsets_in_flight

    @offsets_in_flight.setter
    def offsets_in_flight(self, value: int) -> None:
        self.snapshots.offsets_in_flight = value

    # -- Component ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._set(state="starting")
        super().start()

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        if isinstance(self.snapshots, SnapshotProcess):
            self.snapshots.close()
        self._lease.release()
        self._set(state="stopped")

    def status(self) -> LagStatus:
        with self._lock:
            s = self._status
            return LagStatus(state=s["state"], interval_s=float(self.settings.poll_interval), polls=s["polls"],
                             groups=s["groups"], partitions=s["partitions"], failures=s["failures"],
                             last_poll_at=us_to_s(s["last_poll_at"]),  # kept in µs like the rows' times
                             last_error=s["last_error"])

    # -- internals ------------------------------------------------------------------------
    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._status.update(kw)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if not self._lease.hold():  # raises when the lake is away: a failed poll, said below
                    self._set(state="standby")
                    self._stop.wait(self._standby_check)
                    continue
                self.poll_once()
                self._outage.worked()
                backoff = 1.0
                wait = max(0.0, self.settings.poll_interval - (time.monotonic() - started))
            except Stopped:
                break
            except Exception as exc:  # noqa: BLE001 (a broker away must not end the poller)
                fault = faults.fault(exc, self.store.path)
                with self._lock:
                    self._status.update(state="retrying", last_error=fault.reason)
                    self._status["failures"] += 1
                # one line per outage: a broker away fails every poll the same way
                self._outage.failed(fault.kind or fault.reason, f"{self.name}: poll failed, retrying with backoff "
                                                                f"up to {max(60.0, self.settings.poll_interval):g} s: "
                                                                f"{fault.reason}")
                self.snapshots.reset()  # a fresh client after a failure
                wait = backoff * (0.8 + 0.4 * random.random())  # noqa: S311 (jitter, not crypto)
                backoff = min(backoff * 2, max(60.0, self.settings.poll_interval))
            self.snapshots.serve_logs()
            self._stop.wait(wait)

    def snapshot(self) -> Rows:
        """One snapshot: (group_offsets rows, topic_offsets rows, topic settings answered)."""
        return self.snapshots.snapshot()

    def poll_once(self) -> None:
        group_rows, topic_rows, settings = self.snapshot()
        self._topic_settings.observed(settings)
        tables = {"group_offsets": to_table(group_rows, GROUP_OFFSET_SCHEMA),
                  "topic_offsets": to_table(topic_rows, TOPIC_OFFSET_SCHEMA)}
        configs = self._topic_settings.rows(self.store.cursor)
        if configs is not None:
            tables["topic_configs"] = configs
        faults.retry_conflicts(lambda: self.store.append(tables), what=self.name)
        if configs is not None:
            self._topic_settings.written(configs)
        with self._lock:
            self._status.update(state="running", groups=len({r["group_id"] for r in group_rows}),
                                partitions=len(topic_rows), last_poll_at=now_us())
            self._status["polls"] += 1
