"""Files and history of a lake: small Parquet files merged, old snapshots expired, their files deleted.

Every batch a collector commits is a snapshot with its own small files (or rows inlined in the
catalog). A runtime component, under the ``maintenance`` lease (one collector of a lake at a
time), runs DuckLake's own maintenance functions every few minutes:
``ducklake_flush_inlined_data`` (inlined rows to Parquet), ``ducklake_rewrite_data_files``
(a file that retention left mostly deleted is rewritten without those rows, so an hour that
is half expired does not keep its whole file), ``ducklake_merge_adjacent_files`` (small files
of one partition, an hour of one table, become one), then ``ducklake_expire_snapshots`` and
``ducklake_cleanup_old_files`` for what is older than ``keep``. Seamwatch never reads an old
snapshot; ``keep`` only lets a query already running finish on the files it started with.
Deleted rows (retention) leave the data path here, and the file count stays flat under
``--retain``: about one file per table and hour kept (``seamwatch bench scale`` measures it).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collectors.status import LakeMaintenanceStatus
from collectors.store import faults
from collectors.store.db import Store
from collectors.store.lease import Lease
from collectors.store.periodic import Periodic

log = logging.getLogger(__name__)

# A file is rewritten once this share of its rows is deleted (DuckLake's own default is 0.95:
# a file of an hour that retention has half expired would be kept whole until nearly all of it is)
REWRITE_DELETED_SHARE = 0.5


def _call(cur: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """A maintenance CALL's result, as Arrow (its snapshot times are TIMESTAMPTZ, which Python rows
    would need pytz for). CALL, not SELECT … FROM: wrapped in a SELECT, DuckLake 1.5.5 did the
    work and committed nothing."""
    result = cur.execute(sql)
    to_arrow = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return to_arrow()


def _sum(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0) if table.num_rows else 0


def flushed_tables(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """The lake's tables whose inlined rows are flushed to Parquet: all but the leases, a handful of
    rows every collector renews every few seconds. Flushing those races the renewals (PostgreSQL
    refuses the flush's delete: "could not serialize access due to concurrent update"), and a
    Parquet file of them would be out of date at once."""
    rows = cur.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' "
                       "AND table_name <> 'leases' ORDER BY table_name").fetchall()
    return [r[0] for r in rows]


def maintain(store: Store, *, keep: timedelta) -> dict[str, int]:
    """One pass; counts of what it did. The caller holds the maintenance lease."""
    cur = store.cursor()
    seconds = max(0, int(keep.total_seconds()))
    older = f"now() - INTERVAL {seconds} SECOND"  # an int, formatted: a constant, never input
    flushed_rows = 0
    for table in flushed_tables(cur):  # one call per table, each retried on its own when it conflicts
        flushed = faults.retry_conflicts(
            lambda table=table: _call(cur, f"CALL ducklake_flush_inlined_data('store', table_name => '{table}')"),
            what=f"flushing {table}'s inlined rows")
        flushed_rows += _sum(flushed, "rows_flushed")
    rewritten = _call(cur, f"CALL ducklake_rewrite_data_files('store', delete_threshold => {REWRITE_DELETED_SHARE})")
    merged = _call(cur, "CALL ducklake_merge_adjacent_files('store')")
    expired = _call(cur, f"CALL ducklake_expire_snapshots('store', older_than => {older})")
    removed = _call(cur, f"CALL ducklake_cleanup_old_files('store', older_than => {older})")
    return {"flushed_rows": flushed_rows, "rewritten_files": _sum(rewritten, "files_processed"),
            "merged_files": _sum(merged, "files_processed"),
            "expired_snapshots": expired.num_rows, "removed_files": removed.num_rows}


class LakeMaintenance(Periodic):
    """Runtime component: :func:`maintain` every ``every`` seconds, on one collector of the lake."""

    name = "lake-maintenance"
    what = "lake maintenance"
    wait_first = True

    def __init__(self, store: Store, *, every: float = 300.0, keep: timedelta = timedelta(minutes=10)) -> None:
        self.keep = keep
        super().__init__(store, every)
        self._lease = Lease(store, "maintenance", ttl=max(600.0, every * 3))
        self._totals = {"merged_files": 0, "rewritten_files": 0, "expired_snapshots": 0, "removed_files": 0}
        self._runs = 0
        self._last: float | None = None
        self._standby = False

    def status(self) -> LakeMaintenanceStatus:
        return LakeMaintenanceStatus(runs=self._runs, standby=self._standby, last_run_at=self._last,
                                     error=self.error, **self._totals)

    def run_once(self) -> dict[str, int]:
        if not self._lease.hold():
            self._standby = True
            return {}
        self._standby = False
        done = faults.retry_conflicts(lambda: maintain(self.store, keep=self.keep), what="lake maintenance")
        for k in self._totals:
            self._totals[k] += done[k]
        self._runs += 1
        self._last = time.time()
        return done

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self._lease.release()
