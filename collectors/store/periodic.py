"""Store work done every few minutes beside the collectors (retention, lake maintenance).

A pass runs under its own lease (one collector of a lake at a time) and must never take the
collectors down. A failing pass is said once per outage (collectors/outage.py): a catalog away
for an hour is one line, not sixty, and the pass that works again says so.
"""

from __future__ import annotations

import logging

from collectors.outage import Outage
from collectors.runtime import ThreadComponent
from collectors.store import faults
from collectors.store.db import Store

log = logging.getLogger(__name__)


class Periodic(ThreadComponent):
    """Runs :meth:`run_once` every ``every`` seconds (the first time at once, or after one
    interval when ``wait_first``); what it last failed with is :attr:`error`, None when it works."""

    what: str  # how a log line names the work
    wait_first = False

    def __init__(self, store: Store, every: float) -> None:
        self.store, self.every = store, every
        super().__init__()
        self.error: str | None = None
        self._outage = Outage(log, self.what)

    def run_once(self) -> dict[str, int]:
        raise NotImplementedError

    def _run(self) -> None:
        if self.wait_first and self._stop.wait(self.every):
            return
        while True:
            self._pass()
            if self._stop.wait(self.every):
                return

    def _pass(self) -> None:
        try:
            done = self.run_once()
        except Exception as exc:  # noqa: BLE001 - this work must never take the collectors down
            fault = faults.fault(exc, self.store.path)
            self.error = fault.reason
            # a lake's fault by its kind: its wording changes as PostgreSQL restarts
            self._outage.failed(fault.kind or fault.reason,
                                f"{self.what} failed, trying again every {self.every:g} s: {fault.reason}")
            return
        self._outage.worked()
        self.error = None
        if any(done.values()):
            log.info("%s: %s", self.what, done)
