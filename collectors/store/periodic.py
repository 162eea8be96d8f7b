"""Store work done every few minutes beside the collectors (retention, lake maintenance).

A pass runs under its own lease (one collector of a lake at a time) and must never take the
collectors down. A failing pass is said once per outage: the first failure as a warning, the
same fault again only at debug level (a catalog away for an hour is one line, not sixty), and
the pass that works again says so.
"""

from __future__ import annotations

import logging

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
        self._outage: str | None = None  # the fault's kind on a lake (its wording changes as PostgreSQL restarts)

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
            what = faults.fault(exc, self.store.path)
            self.error = what.reason
            outage = what.kind or self.error
            level = logging.DEBUG if outage == self._outage else logging.WARNING
            log.log(level, "%s failed, trying again every %g s: %s", self.what, self.every, self.error)
            self._outage = outage
            return
        if self._outage is not None:
            log.warning("%s works again", self.what)
        self.error = self._outage = None
        if any(done.values()):
            log.info("%s: %s", self.what, done)
