"""How numbers read on every page: thousands separators, one unit per column, no "None" cells,
and a change of zero that is neither good nor bad.

Pure functions (no Streamlit): tables format their columns with these before they are drawn,
so a missing value reads "–" and a count reads "12,500" whatever the column type would show.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MISSING = "–"
# Duration units a column may be given in: the column's header names it once.
UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def count(v: Any) -> str:
    """'12,500', or '–' when there is no value."""
    return MISSING if missing(v) else f"{int(v):,}"


def signed(v: Any) -> str:
    """'+1,200', '−35', '0' (a change of nothing has no sign), '–' when unknown."""
    if missing(v):
        return MISSING
    n = int(round(float(v)))
    if n == 0:
        return "0"
    return f"+{n:,}" if n > 0 else f"−{-n:,}"


def text(v: Any) -> str:
    """A cell's text: '–' for a missing value, never 'None' or 'nan'."""
    return MISSING if missing(v) else str(v)


def unit_for(seconds: pd.Series) -> str:
    """One unit for a whole column of durations: s below 2 min, min below 2 h, else h."""
    values = [abs(float(v)) for v in seconds if not missing(v)]
    top = max(values, default=0.0)
    return "s" if top < 120 else "min" if top < 7200 else "h"


def in_unit(seconds: Any, unit: str) -> float | None:
    """A duration in seconds expressed in ``unit`` (None stays None)."""
    if missing(seconds):
        return None
    value = float(seconds) / UNITS[unit]
    return None if math.isinf(value) else value


def delta(change: float | None, fmt: str = "{:+,.0f}") -> tuple[str | None, str]:
    """(delta text, delta colour) for st.metric with inverse colours (a rise is bad): no delta
    when the change is unknown, and 'off' (grey) when it is zero."""
    if change is None or missing(change):
        return None, "off"
    if round(float(change), 6) == 0:
        return "±0", "off"
    return fmt.format(change), "inverse"
