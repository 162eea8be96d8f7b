"""The derivation as a runtime Component: `seamwatch collect` and `up` derive every few seconds."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from collectors.derive import derive
from collectors.runtime import ThreadComponent
from collectors.store import Store

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

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        # what is quiet by now is derived before the store closes
        self.run_once()

    def status(self) -> dict[str, Any]:
        return dict(self._stats)

    def run_once(self) -> None:
        """One bounded derive call; a failure is logged and counted, never raised."""
        try:
            r = derive(self.store, quiet_for=self.quiet_for)
        except Exception as exc:  # a bad trace must not stop the collectors beside us
            self._stats["errors"] += 1
            self._stats["last_error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.exception("derivation failed")
            return
        for k in ("traces", "segments", "messages", "snapshots"):
            self._stats[k] += getattr(r, k)
        self._stats["pending"] = r.pending
        self._stats["last_run"] = time.time()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()
