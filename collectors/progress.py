"""Progress of long derivations on stderr, with the time left, so a long wait never looks hung.

An old store's first open queues every trace it holds for derivation again (migrations 006 and
007 add derived tables, and the traces are derived anew to fill them), and an import derives
what it brought. Both run the derivation to the end before the command goes on: on a terminal
a bar counts the traces with their rate and the time left; elsewhere (a log, a pipe) a line every
``every`` seconds says how far it got and how long is left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TextIO

from tqdm import tqdm

from collectors.derive import MAX_TRACES, DeriveResult, derive_all, pending
from collectors.store import Store


def eta(done: int, total: int, seconds: float) -> str:
    """'about 1 min 20 s left' from the rate so far; '' before anything was done."""
    if done <= 0 or seconds <= 0:
        return ""
    left = max(0.0, (total - done) * seconds / done)
    minutes, secs = divmod(round(left), 60)
    return f"about {minutes} min {secs} s left" if minutes else f"about {secs} s left"


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
                            out: TextIO | None = None, every: float = 10.0,
                            max_traces: int = MAX_TRACES) -> DeriveResult:
    """derive_all with its progress on ``out`` (stderr): silent when nothing waits."""
    out = out or sys.stderr
    total = pending(store.cursor()).traces
    if total == 0:
        return derive_all(store, quiet_for=quiet_for, max_traces=max_traces)
    if out.isatty():
        with tqdm(total=total, unit=" traces", desc=what, leave=False, file=out, mininterval=1.0) as bar:
            return derive_all(store, quiet_for=quiet_for, progress=_growing(bar), max_traces=max_traces)
    return derive_all(store, quiet_for=quiet_for, progress=_Lines(total, what, out, every).update,
                      max_traces=max_traces)


def _growing(bar: tqdm) -> Callable[[int], None]:
    # traces whose spans arrive while deriving are derived too: the total grows with them
    def step(n: int) -> None:
        if bar.n + n > (bar.total or 0):
            bar.total = bar.n + n
        bar.update(n)
    return step
