"""A chain of worker threads joined by bounded queues, for collectors whose stages run mostly
in native code (Arrow compute, DuckDB) and so overlap despite the GIL.

Items pass through in order. ``None`` is the end: each stage passes it on and stops. After a
stage fails, every stage drains what reaches it without working on it (so a producer never
blocks on a full queue), and :attr:`Pipeline.failure` holds the first error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any


class Pipeline:
    def __init__(self, name: str, stages: Sequence[tuple[str, Callable[[Any], Any]]], *, depth: int = 1) -> None:
        # depth bounds the items waiting between two stages: memory stays flat. At 0 nothing
        # waits: an item is handed over when the next stage takes it (one item less in memory
        # per stage, under a memory budget)
        self._handover = depth == 0
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=max(depth, 1)) for _ in stages]
        self.failure: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, args=(fn, i), name=f"{name}-{label}", daemon=True)
            for i, (label, fn) in enumerate(stages)
        ]
        for t in self._threads:
            t.start()

    def _run(self, fn: Callable[[Any], Any], i: int) -> None:
        inbox = self._queues[i]
        outbox = self._queues[i + 1] if i + 1 < len(self._queues) else None
        while True:
            item = inbox.get()
            inbox.task_done()  # taken: a hand-over (depth 0) waits for this
            if item is not None and self.failure is None:
                try:
                    result = fn(item)
                except BaseException as exc:  # noqa: BLE001 (handed to the owner, which decides)
                    if self.failure is None:
                        self.failure = exc
                    continue
                finally:
                    item = None  # not kept alive while waiting for the next stage or the next item
                if outbox is not None:
                    self._put(outbox, result)
                result = None
            elif item is None:
                if outbox is not None:
                    self._put(outbox, None)
                return

    def _put(self, q: queue.Queue[Any], item: Any) -> None:
        q.put(item)
        if self._handover:
            q.join()

    def put(self, item: Any) -> None:
        """Hand an item to the first stage; waits while the stages are busy."""
        self._put(self._queues[0], item)

    def close(self) -> None:
        """Let every item through, then stop the stages."""
        self._put(self._queues[0], None)
        for t in self._threads:
            t.join()
