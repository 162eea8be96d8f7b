"""The derivation as a runtime Component: `seamwatch collect` and `up` derive every few seconds."""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

from collectors.derive import MAX_TRACES, derive, derive_all
from collectors.outage import Outage
from collectors.progress import eta
from collectors.runtime import ThreadComponent
from collectors.status import DeriveStatus
from collectors.store import Store, faults
from collectors.store.lease import Lease

log = logging.getLogger(__name__)


class Deriver(ThreadComponent):
    """Runs :func:`collectors.derive.derive` on a background thread until stopped."""

    name = "derive"

    def __init__(self, store: Store, *, every: float = 5.0, quiet_for: timedelta = timedelta(seconds=30)) -> None:
        if every <= 0:
            raise ValueError("the derive interval must be positive")
        self.store = store
        self.every = every
        self.quiet_for = quiet_for
        super().__init__()
        self._stats: dict[str, Any] = {"traces": 0, "segments": 0, "messages": 0, "snapshots": 0, "pending": 0,
                                       "errors": 0, "last_run": None, "last_error": None}
        # On a lake every receiver's spans land in one store, so whole traces are there; one
        # collector at a time derives them (docs/architecture.md#many-collectors). A pass that
        # outlives the lease meets the next holder's in DuckLake's conflict check: one commit fails
        # and its traces stay pending for the next pass.
        self._lease = Lease(store, "derive", ttl=max(60.0, every * 6))
        # one line per outage (the spans are stored; `findings` derives what is still pending later)
        self._outage = Outage(log, "derivation", level=logging.ERROR)
        self._backlog_said = -math.inf

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        # Analysis at stop: every pending trace is derived before the store closes, quiet or
        # not, so `findings` right after Ctrl+C sees everything collected. A span of one of
        # these traces that arrives later (next run) derives the trace again.
        self.run_once(quiet_for=timedelta(0), until_done=True)
        self._lease.release()

    def status(self) -> DeriveStatus:
        s = self._stats
        return DeriveStatus(traces=s["traces"], segments=s["segments"], messages=s["messages"],
                            snapshots=s["snapshots"], pending=s["pending"],
                            quiet_for_s=self.quiet_for.total_seconds(), errors=s["errors"],
                            last_run_at=s["last_run"], last_error=s["last_error"])

    def run_once(self, *, quiet_for: timedelta | None = None, until_done: bool = False) -> None:
        """One bounded derive call (or calls until nothing is left); a failure is logged and counted, never raised."""
        quiet = self.quiet_for if quiet_for is None else quiet_for
        started = time.monotonic()
        try:
            if not self._lease.hold():  # raises when the lake is away: a failed pass, said below
                return  # another collector on this lake derives
            r = faults.retry_conflicts(
                lambda: derive_all(self.store, quiet_for=quiet) if until_done else derive(self.store, quiet_for=quiet),
                what="derivation")
        except Exception as exc:  # a bad trace, or a full disk, must not stop the collectors beside us
            self._stats["errors"] += 1
            fault = faults.fault(exc, self.store.path)
            self._stats["last_error"] = fault.reason
            self._outage.failed(fault.kind or fault.reason, f"derivation failed, {'its' if until_done else 'the'} "
                                                            f"traces left pending: {fault.reason}")
            log.debug("derivation failure", exc_info=True)
            return
        self._outage.worked()
        self._say_backlog(r.traces, r.pending, time.monotonic() - started)
        for k in ("traces", "segments", "messages", "snapshots"):
            self._stats[k] += getattr(r, k)
        self._stats["pending"] = r.pending
        self._stats["last_run"] = time.time()

    def _say_backlog(self, done: int, waiting: int, seconds: float) -> None:
        """A backlog (an upgraded store derives every trace again once; a long outage) is said, with
        the time left at this pass's rate, once a minute: the collectors run on meanwhile."""
        if waiting <= MAX_TRACES or done == 0:
            return
        now = time.monotonic()
        if now - self._backlog_said < 60.0:
            return
        self._backlog_said = now
        rate = done / max(seconds, 1e-9)
        left = eta(done, done + waiting, seconds + self.every)  # a pass, then a wait
        log.warning("%s traces wait to be derived (%s/s while deriving; %s)", f"{waiting:,}", f"{rate:,.0f}", left)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()
