"""The time window every page query takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

_SKEW = timedelta(hours=1)  # collectors.derive.consumer.CLOCK_SKEW (tested equal; importing it takes 126 modules)

# The store's extent, from the spans, the offset snapshots and RECORD_TIMES.
_EXTENT = """
SELECT min(t0), max(t1) FROM (
    SELECT min(start_time) AS t0, max(end_time) AS t1 FROM spans
    UNION ALL {records}
    UNION ALL SELECT min(polled_at), max(polled_at) FROM group_offsets
)
"""
# Whether a record may be stamped far from when the tap read it (DuckDB answers from its statistics).
_RECORDS_AT_ODDS = """SELECT min("timestamp") < min(tapped_at) - $1 OR max("timestamp") > max(tapped_at) + $1
    FROM records"""
_RECORD_TIMES = 'SELECT min("timestamp"), max("timestamp") FROM records'
# Per partition: its 8 earliest record times, the first record's (by offset, leaving out one stamped
# ahead of the tap), and the newest not ahead. A partition's records count from the earliest of those
# 8 that is at most the skew before its first record's time (from that bound itself when all 8 lie
# earlier), and until the newest not ahead. A scan of the records (27 ms a million): only for a store
# whose records are at odds with the tap's clock (a backlog read from its start, a file imported, a
# wrong clock).
_RECORD_TIMES_CAREFUL = """
    SELECT min(least(coalesce(list_min(list_filter(lows, lambda t: t >= first_t - $1)),
                              greatest(lows[1], first_t - $1), lows[1]), broker_t0)), max(t1)
    FROM (SELECT min("timestamp", 8) AS lows,
                 min("timestamp") FILTER (WHERE timestamp_type IS DISTINCT FROM 'create') AS broker_t0,
                 arg_min("timestamp", "offset") FILTER (WHERE "timestamp" <= tapped_at + $1) AS first_t,
                 max("timestamp") FILTER (WHERE "timestamp" <= tapped_at + $1
                                          OR timestamp_type IS DISTINCT FROM 'create') AS t1
          FROM records GROUP BY cluster, topic, "partition")
"""


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
        """Oldest to newest span, record or offset snapshot in the store; None when it holds none.

        A record whose producer clock is wrong (PRODUCER_CLOCK_SKEW, dashboard/analyses/clock_skew.py)
        does not stretch it: one stamped 1971 by a host whose clock reset would make "All data" 55
        years long and every chart of it one bar. A record counts from CLOCK_SKEW before the first
        record of its partition (no record its rule leaves as it is lies earlier), and until
        CLOCK_SKEW after the tap read it; broker-stamped records always count.
        """
        at_odds = con.execute(_RECORDS_AT_ODDS, [_SKEW]).fetchone()[0]
        records = _RECORD_TIMES_CAREFUL if at_odds else _RECORD_TIMES
        row = con.execute(_EXTENT.format(records=records), [_SKEW] if at_odds else []).fetchone()
        if not row or row[0] is None:
            return None
        start, end = row[0], row[1] if row[1] is not None else row[0]  # (every record ahead of the tap)
        return cls(start, max(end, start) + timedelta(microseconds=1))

    @classmethod
    def everything(cls, con: duckdb.DuckDBPyConnection) -> Window:
        """The store's extent, or the last minute when it is empty."""
        return cls.extent(con) or cls.last(timedelta(minutes=1))

    @property
    def params(self) -> list[datetime]:
        """[start, end] to bind as `? ... ?` in SQL: `ts >= ? AND ts < ?`."""
        return [self.start, self.end]
