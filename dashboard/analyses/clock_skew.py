"""Records whose producer timestamp cannot be right: stamped after the tap had read them (the
producer's clock is ahead), or far before the records ahead of them in their partition (behind,
or republished with the time of the events they came from, as Kafka Streams and replays do).

Time lag, every time window and every chart read these timestamps (``records."timestamp"``),
so such records land outside the window they arrived in: the look-up goes by when the tap read
them (``tapped_at``), which is our clock and in the window.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from collectors.derive.consumer import CLOCK_SKEW
from dashboard.analyses.window import Window

SKEW = CLOCK_SKEW  # beyond this (1 h), a timestamp is no clock drift an SRE would shrug at

_SKEWED = """
WITH w AS (
    SELECT cluster, topic, "partition", "offset", "timestamp", tapped_at,
           "timestamp" > tapped_at + $skew AS ahead,
           -- the newest timestamp before it in its partition, ahead-of-time records left out (after one,
           -- every right one would look behind)
           max("timestamp") FILTER (WHERE "timestamp" <= tapped_at + $skew) OVER (
               PARTITION BY cluster, topic, "partition" ORDER BY "offset"
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest_before
    FROM records
    WHERE tapped_at >= $start AND tapped_at < $end AND timestamp_type = 'create' AND "timestamp" IS NOT NULL
)
SELECT cluster, topic, "partition", "offset", "timestamp", tapped_at,
       CASE WHEN ahead THEN 'ahead' ELSE 'behind' END AS clock,
       CASE WHEN ahead THEN "timestamp" - tapped_at ELSE newest_before - "timestamp" END AS off_by
FROM w
WHERE ahead OR "timestamp" < newest_before - $skew
ORDER BY cluster, topic, "partition", "offset"
"""


def skewed_records(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """The records tapped in the window whose CreateTime is off by more than SKEW, oldest position
    first: ``clock`` is 'ahead' (after the tap read it) or 'behind' (before its partition's newest
    earlier record), ``off_by`` by how much. Broker-stamped records (LogAppendTime) are never off."""
    return con.execute(_SKEWED, {"start": window.start, "end": window.end, "skew": SKEW}).df()
