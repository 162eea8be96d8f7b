"""What pages ask of the analyses and the findings engine, in one place.

Pages call these instead of reaching into several modules; results are cached briefly
per (database, window), so the pages of one refresh share one computation.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.window import Window
from dashboard.findings.model import SEVERITIES


def findings(cur: duckdb.DuckDBPyConnection, window: Window) -> list[Any]:
    """Every open finding in the window, worst first."""
    try:
        from dashboard.findings import engine
    except ImportError:  # the engine has not landed in this build
        return []
    return list(engine.run(cur, window))


def count_by_severity(found: list[Any]) -> dict[str, int]:
    c = Counter(f.severity for f in found)
    return {s: c[s] for s in reversed(SEVERITIES) if c[s]}


def observed_graph(cur: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame | None:
    """Edges seen in the data (src_kind, src, dst_kind, dst, kind, volume), or None."""
    try:
        from dashboard.analyses import topology_diff
    except ImportError:
        return None
    return topology_diff.observed_graph(cur, window)
