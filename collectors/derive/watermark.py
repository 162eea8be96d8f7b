"""Which rows of a table arrived since the last derive pass (ingest time only grows).

derive_state keeps, per source table, the newest ``ingested_at`` already handled; a pass
handles ``since < ingested_at <= upto`` and then records ``upto``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# the tables derive scans (identifiers are never taken from input)
_SCANNED = frozenset({"spans", "group_offsets"})


def new_rows(cur: Any, table: str) -> tuple[datetime | None, datetime] | None:
    """(since, upto) bounding the rows ingested since the last pass, or None when there are none."""
    if table not in _SCANNED:
        raise ValueError(f"derive does not scan {table}")
    row = cur.execute("SELECT scanned_upto FROM derive_state WHERE name = ?", [table]).fetchone()
    since = row[0] if row else None
    upto = cur.execute(
        f"SELECT max(ingested_at) FROM {table} WHERE ?::TIMESTAMP IS NULL OR ingested_at > ?::TIMESTAMP",  # noqa: S608
        [since, since],
    ).fetchone()[0]
    return None if upto is None else (since, upto)


def mark_scanned(cur: Any, table: str, upto: datetime) -> None:
    """Record that the rows of ``table`` ingested up to ``upto`` are handled."""
    # DELETE + INSERT, not INSERT OR REPLACE: a lake has no key to replace on (collectors/store/lake.py)
    cur.execute("DELETE FROM derive_state WHERE name = ?", [table])
    cur.execute("INSERT INTO derive_state VALUES (?, ?)", [table, upto])
