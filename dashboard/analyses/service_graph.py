"""Rate and latency of each synchronous edge, as Tempo's service graph shows them.

Read from collectors.derive's segment_edges (docs/architecture.md#synchronous-call-chain-depth):
a hop's row is the callee's SERVER span, so its duration is what the caller waited for; a
leaf call no SERVER answered is timed by the caller's CLIENT span. The rate is calls per
minute over the whole window, so edges of one window compare with each other.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

_EDGES = """
SELECT from_service AS caller, to_service AS callee, count(*) AS calls,
       count(*) / $minutes AS per_min,
       quantile_cont(duration_us, 0.95) / 1000.0 AS p95_ms
FROM segment_edges
WHERE start_time >= $start AND start_time < $end AND edge IN ('hop', 'leaf') AND from_service <> to_service
GROUP BY ALL
ORDER BY caller, callee
"""


def sync_edges(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """caller, callee, calls, per_min (calls per minute over the window), p95_ms."""
    minutes = max((window.end - window.start).total_seconds() / 60, 1e-9)
    return con.execute(_EDGES, {"start": window.start, "end": window.end, "minutes": minutes}).df()
