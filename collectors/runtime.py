"""Background components (Kafka tap, lag poller, OTLP receiver, derivation) run side by side.

The sources (collectors.sources) build them; every component has the same small life
cycle, so `seamwatch collect` and `seamwatch up` start and stop them alike: start() returns once its threads run, stop() flushes what it
holds and returns once they ended, status() says how it is doing for the dashboard (one typed
status per kind of component, collectors.status, every time in seconds).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from collectors.status import Status

log = logging.getLogger(__name__)


class Component(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def status(self) -> Status: ...


class ThreadComponent:
    """A component whose work runs on one daemon thread until stop() is asked for.

    Subclasses set ``name``, call ``super().__init__()`` and implement ``_run``, which loops
    until ``self._stop`` is set.
    """

    name: str

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"seamwatch-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s did not stop within %.0fs", self.name, timeout)

    def _run(self) -> None:
        raise NotImplementedError


class Runtime:
    """Starts components in order and stops them in reverse order."""

    def __init__(self, components: Sequence[Component]) -> None:
        self.components = list(components)
        self._started: list[Component] = []

    def start(self) -> None:
        for c in self.components:
            log.info("starting %s", c.name)
            c.start()
            self._started.append(c)

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop every started component; returns one sentence per component that could not save everything.

        A component says so through an optional ``unsaved()`` method (None when all is written), so
        the command's last line never claims "everything flushed and committed" when it was not.
        """
        unsaved: list[str] = []
        while self._started:
            c = self._started.pop()
            try:
                c.stop(timeout)
            except Exception:  # one component failing to stop must not strand the others
                log.exception("stopping %s failed", c.name)
                unsaved.append(f"{c.name} failed to stop (see the log above)")
                continue
            check = getattr(c, "unsaved", None)
            message = check() if callable(check) else None
            if message:
                unsaved.append(message)
        return unsaved

    def status(self) -> dict[str, Status]:
        return {c.name: c.status() for c in self.components}
