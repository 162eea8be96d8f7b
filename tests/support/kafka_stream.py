"""A topic fed while a `seamwatch collect` taps it: for tests that kill a collector mid-stream."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable


def collect_process(db: str, bootstrap: str, topic: str, group: str, *options: str) -> subprocess.Popen:
    """`seamwatch collect` tapping ``topic`` from the beginning with tap group ``group`` (output piped, merged)."""
    cmd = [sys.executable, "-c", "from dashboard.cli import main; main()", "collect", "--db", db,
           "--bootstrap", bootstrap, "--cluster", "test", "--topic", topic, "--from-beginning",
           "--tap-group", group, *options]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class Feeder:
    """Produces events {"eventId": "<n>"} (n counting from 0, round robin over the partitions) in
    batches in the background until stopped or ``limit`` is reached, so that a kill lands mid-stream."""

    def __init__(self, produce: Callable[..., int], topic: str, *, partitions: int, batch: int, limit: int) -> None:
        self.produced = 0
        self._produce, self._topic, self._partitions, self._batch, self._limit = (
            produce, topic, partitions, batch, limit)
        self._feeding = threading.Event()
        self._feeding.set()
        self._thread = threading.Thread(target=self._feed)
        self._thread.start()

    def _feed(self) -> None:
        while self._feeding.is_set() and self.produced < self._limit:
            base = self.produced
            self.produced += self._produce(self._topic, [(b"k", b'{"eventId": "%d"}' % (base + j), None,
                                                          j % self._partitions) for j in range(self._batch)])
            time.sleep(0.05)

    def alive(self) -> bool:
        """Still producing (neither stopped nor at its limit)."""
        return self._thread.is_alive()

    def stop(self) -> int:
        """Stop producing; returns how many events were produced."""
        self._feeding.clear()
        self._thread.join()
        return self.produced
