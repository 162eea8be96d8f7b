"""Retention: delete data older than a duration, in the background, without blocking readers.

A component of the runtime (see collectors.runtime): every ``every`` seconds it deletes,
table by table and each in its own short transaction, the rows whose time is older than
now − ``retain``. Readers keep their MVCC snapshot meanwhile; writers wait at most for one
table's delete.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta

from collectors.errors import ConfigError
from collectors.status import RetentionStatus
from collectors.store import faults
from collectors.store.db import Store
from collectors.store.lease import Lease
from collectors.store.periodic import Periodic

log = logging.getLogger(__name__)

# (table, time column): identifiers are constants, never input. Tables absent from a store
# (an older schema) are skipped.
AGED = (
    ("spans", "start_time"), ("records", "timestamp"), ("group_offsets", "polled_at"),
    ("topic_offsets", "observed_at"), ("ingest_errors", "at"),
    ("trace_segments", "start_time"), ("segment_edges", "start_time"), ("trace_facts", "start_time"),
    ("message_lag", "process_start"), ("consumer_status", "at"), ("processings", "start_time"),
    ("duplicated_processings", "start_time"),
    # notices sent (or refused) long ago; notify_state is not aged: it holds what is still open
    ("notify_outbox", "created_at"),
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, *, what: str = "--retain") -> timedelta:
    """'90s', '30m', '24h', '7d', '2w' → timedelta; anything else is a one-sentence ConfigError."""
    m = _DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{what} must be a positive duration like 30m, 24h or 7d, not {text!r}")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])


def delete_older_than(store: Store, cutoff: datetime) -> dict[str, int]:
    """Delete every row older than ``cutoff`` (naive UTC); rows deleted per table."""
    cur = store.cursor()
    present = {r[0] for r in cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    deleted = {}
    for table, column in AGED:
        if table not in present:
            continue

        def delete(table: str = table, column: str = column) -> int:
            with store.transaction() as tx:
                n = tx.cursor.execute(
                    f'DELETE FROM "{table}" WHERE "{column}" < ?', [cutoff]  # noqa: S608 (constant identifiers)
                ).fetchone()
                return int(n[0]) if n else 0

        # on a lake the delete meets every collector's appends to the table: more tries than theirs
        deleted[table] = faults.retry_conflicts(delete, what=f"retention of {table}",
                                                tries=faults.RETENTION_CONFLICT_TRIES)
    return deleted


class Retention(Periodic):
    """Runtime component: deletes what is older than ``retain`` every ``every`` seconds."""

    name = "retention"
    what = "retention"

    def __init__(self, store: Store, retain: timedelta, *, every: float = 60.0) -> None:
        if retain <= timedelta(0):
            raise ConfigError("retention must be a positive duration")
        self.retain = retain
        super().__init__(store, every)
        self._runs = 0
        self._deleted = 0
        self._last: float | None = None
        # on a lake, one collector at a time deletes (docs/architecture.md#many-collectors)
        self._lease = Lease(store, "retention", ttl=max(120.0, every * 3))

    def status(self) -> RetentionStatus:
        return RetentionStatus(retain_s=self.retain.total_seconds(), runs=self._runs, deleted=self._deleted,
                               last_run_at=self._last, error=self.error)

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        now = now or datetime.now(UTC).replace(tzinfo=None)
        if not self._lease.hold():
            return {}
        deleted = delete_older_than(self.store, now - self.retain)
        self._runs += 1
        self._deleted += sum(deleted.values())
        self._last = time.time()
        return deleted
