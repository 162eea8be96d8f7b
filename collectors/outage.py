"""A failing loop's outage, said once: its first failure, then only news, then that it works again.

A loop that retries (the lag poller every poll, retention and lake maintenance every pass) meets
the same fault on every try while a broker or a catalog is away. An hour's outage is one warning
line, the same fault again is logged at debug level only, a different fault is a new line, and
the first try that works says so.
"""

from __future__ import annotations

import logging
import re

_NUMBERS = re.compile(r"\d+")  # a fault's wording differs between tries only in its numbers (ports aside)


class Outage:
    """What one loop has said of its current outage (None while its work works)."""

    def __init__(self, log: logging.Logger, what: str, *, level: int = logging.WARNING) -> None:
        self.log, self.what, self.level = log, what, level
        self._fault: str | None = None

    @property
    def ongoing(self) -> bool:
        return self._fault is not None

    def failed(self, fault: str, line: str) -> None:
        """A try failed with ``fault`` (its kind, or its reason): ``line`` is logged at the outage's
        level when the fault is news, at debug level when it is the one said already."""
        fault = _NUMBERS.sub("#", fault)
        self.log.log(logging.DEBUG if fault == self._fault else self.level, "%s", line)
        self._fault = fault

    def worked(self) -> None:
        """A try worked: the end of an outage is said once."""
        if self._fault is not None:
            self.log.warning("%s works again", self.what)
            self._fault = None
