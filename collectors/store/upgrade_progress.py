"""What the upgrade of an older store says on stderr while it runs, so it never looks hung.

A store made by an older Seamwatch gets the migrations it lacks on its first open for writing
(collectors/store/migrate.py). Some of them touch every row: 008 rebuilds ``records``, 006 and
007 queue every trace to be derived again, 014 copies processings. On a store of millions of
rows one such statement runs for a minute or more. So an upgrade says, in one line, that it
starts, what it will run and how many rows the store holds; while a statement runs longer than
``every`` seconds, a line every ``every`` seconds says how far it got (DuckDB's own query
progress) and the time left at that rate, or only how long it has run where DuckDB cannot tell
(a COMMIT, a catalog change); at the end one line says how long it took and, when traces were
queued, what derives them. ``SEAMWATCH_PROGRESS_EVERY`` sets ``every`` (10 s by default), for
the derivation's progress lines (collectors/progress.py) too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TextIO

import duckdb

from collectors.store.faults import name

log = logging.getLogger(__name__)

EVERY_VARIABLE = "SEAMWATCH_PROGRESS_EVERY"
EVERY = 10.0

# the migrations that queue every trace the store holds to be derived again
_REQUEUE = ("006_processings.sql", "007_sends.sql")


def every() -> float:
    """Seconds between progress lines: ``SEAMWATCH_PROGRESS_EVERY``, else 10."""
    text = os.environ.get(EVERY_VARIABLE, "").strip()
    if not text:
        return EVERY
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86400:
        log.warning("%s=%r is not a number of seconds; progress is said every %g s", EVERY_VARIABLE, text, EVERY)
        return EVERY
    return seconds


def duration(seconds: float) -> str:
    """'1 min 20 s', '12 s', '0.4 s'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def eta(done: float, total: float, seconds: float) -> str:
    """'about 1 min 20 s left' from the rate so far; '' before anything was done."""
    if done <= 0 or seconds <= 0:
        return ""
    left = max(0.0, (total - done) * seconds / done)
    minutes, secs = divmod(round(left), 60)
    return f"about {minutes} min {secs} s left" if minutes else f"about {secs} s left"


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    try:
        row = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()  # noqa: S608 (our own table names)
    except duckdb.Error:  # not in a store this old
        return None
    return int(row[0]) if row else None


@dataclass
class Step:
    """One statement (or commit) of an upgrade: how long it took and what its lines foretold."""

    migration: str
    what: str
    seconds: float = 0.0
    # (seconds in, percent done, seconds said to be left) of each line with a percentage
    estimates: list[tuple[float, float, float]] = field(default_factory=list)


class Upgrade:
    """The lines of one store's upgrade from ``current`` through the migrations ``todo``."""

    last: ClassVar[Upgrade | None] = None  # the latest upgrade in this process (`seamwatch bench upgrade` reads it)

    def __init__(self, con: duckdb.DuckDBPyConnection, location: str, current: int, latest: int,
                 todo: list[str], *, out: TextIO | None = None, every_s: float | None = None) -> None:
        self.con, self.where, self.todo = con, name(location), todo
        self.current, self.latest = current, latest
        self.out = out or sys.stderr
        self.every = every() if every_s is None else every_s
        self.started = time.monotonic()
        self.steps: list[Step] = []
        Upgrade.last = self

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def begin(self) -> None:
        sizes = [f"{table} holds {n:,} rows" for table in ("records", "spans")
                 if (n := _rows(self.con, table)) is not None]
        many = f"{len(self.todo)} migration{'s' if len(self.todo) != 1 else ''}"
        self.say(f"upgrading {self.where} from schema {self.current} to {self.latest}: {many}"
                 + (f"; {', '.join(sizes)}" if sizes else "")
                 + f" (a line every {self.every:g} s while a step runs longer)")
        # DuckDB tracks a statement's progress only with its progress bar on; it must not draw it
        for setting in ("SET enable_progress_bar = true", "SET enable_progress_bar_print = false",
                        "SET progress_bar_time = 0"):
            with contextlib.suppress(duckdb.Error):
                self.con.execute(setting)

    @contextlib.contextmanager
    def step(self, migration: str, what: str) -> Iterator[None]:
        """While the block runs, a line every ``every`` seconds after the first ``every``."""
        index = self.todo.index(migration) + 1 if migration in self.todo else 0
        label = f"{migration.removesuffix('.sql')} ({index} of {len(self.todo)}), {what}"
        step = Step(migration, what)
        stop = threading.Event()
        started = time.monotonic()

        def watch() -> None:
            while not stop.wait(self.every):
                self.say(self._line(label, time.monotonic() - started, step))

        watcher = threading.Thread(target=watch, name="upgrade-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            step.seconds = time.monotonic() - started
            self.steps.append(step)

    def _line(self, label: str, seconds: float, step: Step) -> str:
        try:
            percent = float(self.con.query_progress())
        except duckdb.Error:
            percent = -1.0
        if 0 < percent < 100:
            step.estimates.append((seconds, percent, seconds * (100 - percent) / percent))
            return (f"upgrading {self.where}: {label}: {percent:.0f}% done in {duration(seconds)}, "
                    f"{eta(percent, 100.0, seconds)}")
        return f"upgrading {self.where}: {label}: running for {duration(seconds)} (DuckDB gives no percentage here)"

    def done(self, migration: str, seconds: float) -> None:
        log.info("%s: migration %s took %s", self.where, migration, duration(seconds))
        if seconds >= self.every:
            self.say(f"upgrading {self.where}: {migration.removesuffix('.sql')} took {duration(seconds)}")

    def end(self) -> None:
        for setting in ("RESET enable_progress_bar", "RESET enable_progress_bar_print", "RESET progress_bar_time"):
            with contextlib.suppress(duckdb.Error):
                self.con.execute(setting)
        line = f"upgraded {self.where} to schema {self.latest} in {duration(time.monotonic() - self.started)}"
        queued = _rows(self.con, "derive_pending") if any(m in self.todo for m in _REQUEUE) else None
        if queued:
            line += (f"; {queued:,} traces are queued to be derived again (the new derived tables): "
                     "`findings` and `import` derive them before they go on, showing the time left; "
                     "`collect` derives them in the background and logs how many wait")
        self.say(line)
