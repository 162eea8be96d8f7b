"""Repeated log lines, rate-limited: one line per interval, and a count of the ones held back.

A broker that cannot be reached makes librdkafka report the same failure on every reconnect
attempt, from every client: 843 identical "Connection refused" lines in 14 s (issue 10, case 22).
The first line of a kind is logged at once; repeats within the interval are only counted, and
the next line of that kind after the interval says how many there were.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

# librdkafka's lines differ between repeats only in their numbers ("after 3ms", "#consumer-2")
_NUMBERS = re.compile(r"\d+")
INTERVAL_S = 30.0
_MAX_KINDS = 512  # kinds of line remembered; the oldest is forgotten past that


class RepeatFilter(logging.Filter):
    """Pass a WARNING-or-worse line once per ``interval`` per kind (logger, level, text without numbers)."""

    def __init__(self, interval: float = INTERVAL_S, *, clock: Callable[[], float] = time.monotonic,
                 min_level: int = logging.WARNING) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._min_level = min_level
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # kind → [logged at, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._min_level:
            return True
        message = record.getMessage()
        kind = (record.name, record.levelno, _NUMBERS.sub("#", message))
        now = self._clock()
        with self._lock:
            entry = self._seen.get(kind)
            if entry is not None and now - entry[0] < self.interval:
                entry[1] += 1
                return False
            self._seen.pop(kind, None)
            self._seen[kind] = [now, 0]
            if len(self._seen) > _MAX_KINDS:
                del self._seen[next(iter(self._seen))]
        if entry is not None and entry[1]:
            record.msg = f"{message} ({int(entry[1])} more like it in the last {now - entry[0]:.0f} s)"
            record.args = None
        return True


FILTER = RepeatFilter()


def rate_limit(*loggers: logging.Logger) -> None:
    """Rate-limit repeated lines logged on these loggers (a logger's filters see its own records)."""
    for logger in loggers:
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
