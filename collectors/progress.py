"""Progress of long derivations on stderr, with the time left, so a long wait never looks hung.

An old store's first open queues every trace it holds for derivation again (migrations 006 and
007 add derived tables, and the traces are derived anew to fill them), and an import derives
what it brought. Both run the derivation to the end before the command goes on: on a terminal
a bar counts the traces with their rate and the time left; elsewhere (a log, a pipe) a line every
``every`` seconds (``SEAMWATCH_PROGRESS_EVERY``, 10 by default) says how far it got and how long
is left. The upgrade before it says its own progress (collectors/store/upgrade_progress.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

from tqdm import tqdm

from collectors.derive import MAX_TRACES, DeriveResult, derive_all, pending
from collectors.store import Store, upgrade_progress
from collectors.store.upgrade_progress import eta

__all__ = ["derive_showing_progress", "eta"]


class _Lines:
    """Progress as a line every ``every`` seconds (for a log or a pipe, where a bar is noise);
    a derivation done within the first ``every`` seconds prints nothing."""

    def __init__(self, total: int, what: str, out: TextIO, every: float) -> None:
        self.total, self.what, self.out, self.every = total, what, out, every
        self.done, self.started = 0, time.monotonic()
        self.last = self.started

    def update(self, n: int) -> None:
        self.done += n
        self.total = max(self.total, self.done)
        now = time.monotonic()
        if now - self.last >= self.every and self.done < self.total:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            print(f"{self.what}: {self.done:,} of {self.total:,} traces ({rate:,.0f}/s), "
                  f"{eta(self.done, self.total, now - self.started)}", file=self.out, flush=True)


def derive_showing_progress(store: Store, *, what: str = "deriving", quiet_for: timedelta = timedelta(0),
                            out: TextIO | None = None, every: float | None = None,
                            max_traces: int = MAX_TRACES) -> DeriveResult:
    """derive_all with its progress on ``out`` (stderr): silent when nothing waits."""
    out = out or sys.stderr
    total = pending(store.cursor()).traces
    if total == 0:
        return derive_all(store, quiet_for=quiet_for, max_traces=max_traces)
    if out.isatty():
        with tqdm(total=total, unit=" traces", desc=what, leave=False, file=out, mininterval=1.0) as bar:
            return derive_all(store, quiet_for=quiet_for, progress=_growing(bar), max_traces=max_traces)
    lines = _Lines(total, what, out, upgrade_progress.every() if every is None else every)
    return derive_all(store, quiet_for=quiet_for, progress=lines.update, max_traces=max_traces)


def _growing(bar: tqdm) -> Callable[[int], None]:
    # traces whose spans arrive while deriving are derived too: the total grows with them
    def step(n: int) -> None:
        if bar.n + n > (bar.total or 0):
            bar.total = bar.n + n
        bar.update(n)
    return step
