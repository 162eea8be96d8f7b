"""A lease in the store: on a lake, one process at a time runs a job (the lag poller, derivation).

See migrations/016_leases.sql for how overlapping takes are refused. On a DuckDB file there is
one writing process, which always holds every lease.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

import duckdb

from collectors.errors import first_line
from collectors.store import faults
from collectors.store.db import Store

log = logging.getLogger(__name__)


class Lease:
    """``hold()`` takes or renews the named lease for ``ttl`` seconds; False while another holds it.

    A lake that cannot be reached (its catalog or data path) raises: that is an outage for the
    caller to say, not another process holding the lease.
    """

    def __init__(self, store: Store, name: str, *, ttl: float) -> None:
        self.store, self.name, self.ttl = store, name, ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    def hold(self) -> bool:
        if not self.store.lake:
            self.held = True
            return True
        now = datetime.now(UTC).replace(tzinfo=None)
        try:
            with self.store.transaction() as tx:
                row = tx.cursor.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [self.name]).fetchone()
                if row and row[0] != self.holder and row[1] is not None and row[1] > now:
                    self.held = False
                    return False
                tx.cursor.execute("DELETE FROM leases WHERE name IN ('serial', ?)", [self.name])
                tx.cursor.execute("INSERT INTO leases VALUES ('serial', NULL, NULL), (?, ?, ?)",
                                  [self.name, self.holder, now + timedelta(seconds=self.ttl)])
        except duckdb.Error as exc:
            self.held = False
            if faults.classify(exc, self.store.path).kind not in (None, faults.CONFLICT):
                raise  # the lake is away: nobody can hold the lease, and the caller must say why
            # another process took or renewed a lease at the same moment
            log.debug("lease %s not taken: %s", self.name, first_line(exc))
            return False
        if not self.held:
            log.info("lease %s taken by %s", self.name, self.holder)
        self.held = True
        return True

    def release(self) -> None:
        """Let a standby take over at once (a clean stop); a killed holder's lease just expires."""
        if not self.store.lake or not self.held:
            return
        try:
            with self.store.transaction() as tx:
                tx.cursor.execute("DELETE FROM leases WHERE name IN ('serial', ?) AND "
                                  "(name = 'serial' OR holder = ?)", [self.name, self.holder])
                tx.cursor.execute("INSERT INTO leases VALUES ('serial', NULL, NULL)")
        except duckdb.Error as exc:
            log.debug("lease %s not released: %s", self.name, first_line(exc))
        self.held = False
