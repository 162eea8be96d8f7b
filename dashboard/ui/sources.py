"""What pages ask of the findings engine and the observed graph, in one place.

Findings run every rule, so they are cached briefly per (database, window): the Overview
and the Findings page of one refresh share one computation.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard.analyses import topology_diff
from dashboard.analyses.window import Window
from dashboard.findings import engine
from dashboard.findings.model import SEVERITIES
from dashboard.ui import state


@st.cache_data(ttl=30, max_entries=16, show_spinner="Running the rules …")
def _report(db: str | None, cluster: str | None, start: Any, end: Any,
            _cur: duckdb.DuckDBPyConnection) -> engine.Report:
    return engine.evaluate(_cur, Window(start, end))


def report(cur: duckdb.DuckDBPyConnection, window: Window) -> engine.Report:
    """Every finding in the window, worst first, and the rules that failed."""
    return _report(state.app_args().db, state.cluster(), window.start, window.end, cur)


def findings(cur: duckdb.DuckDBPyConnection, window: Window) -> list[Any]:
    return report(cur, window).findings


def count_by_severity(found: list[Any]) -> dict[str, int]:
    c = Counter(f.severity for f in found)
    return {s: c[s] for s in reversed(SEVERITIES) if c[s]}


def observed_graph(cur: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Edges seen in the data (src_kind, src, dst_kind, dst, kind, volume)."""
    return topology_diff.observed_graph(cur, window)
