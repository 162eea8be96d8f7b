"""The time window every page query takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end); naive datetimes in UTC, as the store keeps them."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")

    @classmethod
    def last(cls, duration: timedelta, *, end: datetime | None = None) -> Window:
        end = end or datetime.now(UTC).replace(tzinfo=None)
        return cls(end - duration, end)

    @classmethod
    def extent(cls, con: duckdb.DuckDBPyConnection) -> Window | None:
        """Oldest to newest span, record or offset snapshot in the store; None when it holds none."""
        row = con.execute(
            """
            SELECT min(t0), max(t1) FROM (
                SELECT min(start_time) AS t0, max(end_time) AS t1 FROM spans
                UNION ALL SELECT min("timestamp"), max("timestamp") FROM records
                UNION ALL SELECT min(polled_at), max(polled_at) FROM group_offsets
            )
            """
        ).fetchone()
        if not row or row[0] is None:
            return None
        return cls(row[0], max(row[1], row[0]) + timedelta(microseconds=1))

    @classmethod
    def everything(cls, con: duckdb.DuckDBPyConnection) -> Window:
        """The store's extent, or the last minute when it is empty."""
        return cls.extent(con) or cls.last(timedelta(minutes=1))

    @property
    def params(self) -> list[datetime]:
        """[start, end] to bind as `? ... ?` in SQL: `ts >= ? AND ts < ?`."""
        return [self.start, self.end]
