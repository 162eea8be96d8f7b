"""A finding's evidence as tables a person reads, not a JSON tree.

Rules put ids, counts and samples in ``Finding.evidence`` (a dict of scalars, lists, lists of
records and maps). ``tables(evidence)`` turns it into titled tables: one "facts" table of the
scalar fields and the short lists, then one table per list of records or map. Every cell is
text already formatted (thousands separators, "–" for a missing value).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pandas as pd

from dashboard.ui import numbers

SHORT_LIST = 8  # a list of up to this many plain values reads as one line of the facts table


def label(name: str) -> str:
    """'trace_ids' → 'Trace ids'."""
    words = str(name).replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "Value"


def cell(v: Any) -> str:
    """One value as the text of a cell."""
    if numbers.missing(v) if not isinstance(v, (list, dict, tuple)) else False:
        return numbers.MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.1f}"
    if isinstance(v, (datetime, date)) or hasattr(v, "isoformat"):
        return v.isoformat(sep=" ", timespec="seconds") if isinstance(v, datetime) else v.isoformat()
    if isinstance(v, (list, tuple)):
        return ", ".join(cell(x) for x in v) or numbers.MISSING
    if isinstance(v, dict):
        return ", ".join(f"{k}: {cell(x)}" for k, x in v.items()) or numbers.MISSING
    return str(v)


def _plain(v: Any) -> bool:
    return not isinstance(v, (list, tuple, dict))


def _records_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    return pd.DataFrame([[cell(r.get(c)) for c in columns] for r in rows], columns=[label(c) for c in columns])


def tables(evidence: dict[str, Any] | None) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) pairs: the facts first, then each list of records or map."""
    if not evidence:
        return []
    evidence = json.loads(json.dumps(evidence, default=str))  # numpy and timestamps as plain values
    facts: list[tuple[str, str]] = []
    more: list[tuple[str, pd.DataFrame]] = []
    for name, value in evidence.items():
        if _plain(value):
            facts.append((label(name), cell(value)))
        elif isinstance(value, list) and all(_plain(v) for v in value):
            if len(value) <= SHORT_LIST:
                facts.append((label(name), cell(value)))
            else:
                more.append((f"{label(name)} ({len(value):,})",
                             pd.DataFrame({label(name).rstrip("s") or "Value": [cell(v) for v in value]})))
        elif isinstance(value, list):
            rows = [v if isinstance(v, dict) else {"value": v} for v in value]
            more.append((f"{label(name)} ({len(rows):,})", _records_table(rows)))
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [{"key": k, **v} for k, v in value.items()]
            table = _records_table(rows).rename(columns={"Key": label(name).rstrip("s")})
            more.append((f"{label(name)} ({len(rows):,})", table))
        elif isinstance(value, dict):
            if not value:
                facts.append((label(name), numbers.MISSING))
            else:
                more.append((label(name), pd.DataFrame([(str(k), cell(v)) for k, v in value.items()],
                                                       columns=["Name", "Value"])))
    out = [("Facts", pd.DataFrame(facts, columns=["Field", "Value"]))] if facts else []
    return out + more
