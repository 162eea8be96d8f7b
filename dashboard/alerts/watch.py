"""The findings watch: the rules, run every few seconds over the last window, for metrics and notifications.

A finding is *open* while the rules see it in the last ``window`` (15 minutes by default) and
*resolved* once they no longer do. The rules read derived facts (collectors.derive), so what the
watch sees trails the wire by the deriver's quiet time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from collectors.errors import first_line
from collectors.outage import Outage
from collectors.runtime import ThreadComponent
from collectors.status import FindingsWatchStatus
from collectors.store import Store, faults
from dashboard.analyses.window import Window
from dashboard.findings import engine

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(minutes=15)
DEFAULT_EVERY = 30.0


class FindingsWatch(ThreadComponent):
    """Evaluates every rule over the last ``window`` each ``every`` seconds and hands the report on."""

    name = "findings"

    def __init__(self, store: Store, *, window: timedelta = DEFAULT_WINDOW, every: float = DEFAULT_EVERY,
                 clock: Callable[[], datetime] | None = None) -> None:
        if every <= 0 or window <= timedelta(0):
            raise ValueError("the findings window and interval must be positive")
        super().__init__()
        self.store = store
        self.window = window
        self.every = every
        self._clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self._listeners: list[Callable[[engine.Report], None]] = []
        self._lock = threading.Lock()
        self.latest: engine.Report | None = None
        self._stats = {"runs": 0, "errors": 0, "last_run": None, "last_error": None}
        self._outage = Outage(log, "the findings watch")  # a lake away: one line, not one per rule and run

    def subscribe(self, listener: Callable[[engine.Report], None]) -> None:
        """Call ``listener(report)`` after each run (on the watch's thread)."""
        self._listeners.append(listener)

    def run_once(self) -> engine.Report | None:
        """One evaluation; a failure is logged and counted, never raised (the collectors go on)."""
        end = self._clock()
        cur = self.store.cursor()
        lake: list[faults.Fault] = []  # the lake's faults the rules met

        def failed(rule: str, exc: Exception) -> None:
            fault = faults.fault(exc, self.store.path)
            if fault.kind is None:
                engine.log_failure(rule, exc)
            else:
                lake.append(fault)

        try:
            report = engine.evaluate(cur, Window(end - self.window, end), on_failure=failed)
        except Exception as exc:  # a broken store read must not stop the thread
            fault = faults.fault(exc, self.store.path)
            self._stats["errors"] += 1
            self._stats["last_error"] = fault.reason
            if fault.kind is None:
                log.error("findings could not be evaluated: %s", fault.reason)
            else:
                self._outage_met(fault)
            return None
        finally:
            cur.close()
        if lake:
            self._outage_met(lake[0])
        else:
            self._outage.worked()
        with self._lock:
            self.latest = report
        self._stats["runs"] += 1
        self._stats["last_run"] = time.time()
        for listener in self._listeners:
            try:
                listener(report)
            except Exception as exc:  # one listener failing (a full disk) must not starve the others
                log.error("after the findings run: %s", first_line(exc))
                log.debug("findings listener failure", exc_info=True)
        return report

    def _outage_met(self, fault: faults.Fault) -> None:
        """A lake away fails every rule on every run until it is back: said once, by its kind."""
        self._outage.failed(fault.kind or fault.reason,
                            f"the findings watch failed, trying again every {self.every:g} s: {fault.reason}")

    def _run(self) -> None:
        self.run_once()
        while not self._stop.wait(self.every):
            self.run_once()

    def status(self) -> FindingsWatchStatus:
        s = self._stats
        latest = self.latest
        return FindingsWatchStatus(window_s=self.window.total_seconds(), runs=s["runs"],
                                   open=len(latest.findings) if latest else 0,
                                   failed_rules=len(latest.errors) if latest else 0, errors=s["errors"],
                                   last_run_at=s["last_run"], last_error=s["last_error"])
