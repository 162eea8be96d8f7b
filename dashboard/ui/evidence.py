"""A finding's evidence as tables a person reads, not a JSON tree.

Rules put ids, counts and samples in ``Finding.evidence`` (a dict of scalars, lists, lists of
records and maps). ``tables(evidence)`` turns it into titled tables: one "facts" table of the
scalar fields and the short lists, then one table per list of records or map. Every cell is
text already formatted (thousands separators, "–" for a missing value, times as
"2026-03-02 12:00:05 UTC" as the store keeps them, in UTC). A rule names the unit of its
evidence's numbers (``Rule.units``: a field → "message"), so a cell reads "219 messages".

Trace ids (a ``trace_id`` or ``trace_ids`` field, or one ending so) become links to the Trace
page when the page passes ``trace_href``: they get a table of their own, column "Trace". A
``record`` field of a list of records ('topic/partition/offset') links to the Records page when
the page passes ``record_href``.

A list of records inside a list of records (a message's processings, each with its effects) gets
a table of its own below its parents', titled by the path ("Messages · Processings (2)"), each
row led by the parent it belongs to: its trace ids are links there too. The parent's cell counts
its rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

from dashboard.findings.model import noun_for
from dashboard.ui import numbers

SHORT_LIST = 8  # a list of up to this many plain values reads as one line of the facts table
TRACE_COLUMN = "Trace"  # the column of links to the Trace page (st.column_config.LinkColumn)
# An ISO time as rules write it (datetime.isoformat(), naive UTC as the store keeps it), alone
# or inside a sentence ("ParcelPacked at 2026-03-02T12:00:05.120000").
_ISO_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|[+-]00:?00)?(?![\d:.])")
TraceHref = Callable[[str, "str | None"], "str | None"]
RECORD_COLUMN = "Record"  # a ``record`` field of a list of records ('topic/partition/offset'): links to the Records page
RecordHref = Callable[[str], "str | None"]


def when(t: datetime) -> str:
    """'2026-03-02 12:00:05 UTC', with milliseconds when the time has a fraction (processings
    a few ms apart keep their order on the page)."""
    ms = f".{t.microsecond // 1000:03d}" if t.microsecond else ""
    return f"{t:%Y-%m-%d %H:%M:%S}{ms} UTC"


def _times_in(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        frac = (m.group(3) or "")[:3].ljust(3, "0")
        return f"{m.group(1)} {m.group(2)}" + (f".{frac}" if m.group(3) and int(m.group(3)) else "") + " UTC"
    return _ISO_TIME.sub(one, text)


def quantity(n: float, unit: str) -> str:
    """'219 messages', '1 message', '9.57 ms': a number with its unit (a noun takes its plural)."""
    number = cell(n)
    if unit in ("ms", "s", "min", "h", "%"):
        return f"{number} {unit}"
    return f"{number} {noun_for(n, unit)}"


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
    if isinstance(v, datetime):
        return when(v)
    if isinstance(v, date) or hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, str):
        return _times_in(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(cell(x) for x in v) or numbers.MISSING
    if isinstance(v, dict):
        return ", ".join(f"{k}: {cell(x)}" for k, x in v.items()) or numbers.MISSING
    return str(v)


def _plain(v: Any) -> bool:
    return not isinstance(v, (list, tuple, dict))


def _fmt(v: Any, unit: str | None) -> str:
    if unit and isinstance(v, (int, float)) and not isinstance(v, bool) and not numbers.missing(v):
        return quantity(v, unit)
    return cell(v)


def is_trace_field(name: str) -> bool:
    """'trace_id', 'trace_ids', 'deepest_trace_id': a field of trace ids."""
    return str(name).endswith(("trace_id", "trace_ids"))


def _is_records(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _record_tables(title: str, name: str, rows: list[dict[str, Any]], units: Mapping[str, str],
                   trace_href: TraceHref | None, lead: str | None = None,
                   record_href: RecordHref | None = None) -> list[tuple[str, pd.DataFrame]]:
    """The table of ``rows`` (the records of field ``name``), then one per list of records nested in
    them, recursively. Each nested row is led by the field that names its parent: the one its own
    parent was led by, else the parent's ``name`` in the singular ("message" in "messages"), else
    the parent's first plain field the nested rows lack."""
    nested = [k for k in dict.fromkeys(k for r in rows for k in r) if any(_is_records(r.get(k)) for r in rows)]
    flat = [{k: (len(v) if k in nested and isinstance(v, list) else v) for k, v in r.items()} for r in rows]
    out = [(f"{title} ({len(rows):,})", _records_table(flat, units, trace_href, record_href))]
    for field in nested:
        owned = {k for r in rows if _is_records(r.get(field)) for c in r[field] for k in c}
        candidates = [lead, name.removesuffix("s"), *(k for r in rows for k, v in r.items() if _plain(v))]
        by = next((k for k in candidates if k and k not in owned and any(_plain(r.get(k, [])) for r in rows)), None)
        sub = [{**({by: r.get(by)} if by else {}), **c} for r in rows if _is_records(r.get(field)) for c in r[field]]
        out += _record_tables(f"{title} · {label(field)}", field, sub, units, trace_href, by, record_href)
    return out


def _records_table(rows: list[dict[str, Any]], units: Mapping[str, str], trace_href: TraceHref | None,
                   record_href: RecordHref | None = None) -> pd.DataFrame:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    linked = trace_href is not None and "trace_id" in columns and TRACE_COLUMN not in map(label, columns)

    def text(r: dict[str, Any], c: str) -> str:
        if linked and c == "trace_id" and isinstance(r.get(c), str):
            return trace_href(r[c], r.get("span_id")) or r[c]  # type: ignore[misc]
        if record_href is not None and c == "record" and isinstance(r.get(c), str):
            return record_href(r[c]) or r[c]
        return _fmt(r.get(c), units.get(c))

    return pd.DataFrame([[text(r, c) for c in columns] for r in rows],
                        columns=[TRACE_COLUMN if linked and c == "trace_id" else label(c) for c in columns])


def tables(evidence: dict[str, Any] | None, *, units: Mapping[str, str] | None = None,
           trace_href: TraceHref | None = None, record_href: RecordHref | None = None) -> list[tuple[str, pd.DataFrame]]:
    """(title, table) pairs: the facts first, then each list of records or map.

    ``units``: a field's unit ("message"), for its number, its list's or its map's numbers and
    its column in a list of records. ``trace_href(trace_id, span_id)``: a link to the trace;
    given it, each field of trace ids is a table of links (column ``TRACE_COLUMN``)."""
    if not evidence:
        return []
    units = units or {}
    evidence = json.loads(json.dumps(evidence, default=str))  # numpy and timestamps as plain values
    facts: list[tuple[str, str]] = []
    more: list[tuple[str, pd.DataFrame]] = []
    for name, value in evidence.items():
        unit = units.get(name)
        # 'max_before_commit_ms' reads "Max before commit" once its values say "9.57 ms"
        shown = name.removesuffix(f"_{unit}") if unit in ("ms", "s") else name
        if trace_href is not None and is_trace_field(name) and value \
                and all(isinstance(v, str) for v in (value if isinstance(value, list) else [value])):
            ids = value if isinstance(value, list) else [value]
            title = f"{label(shown)} ({len(ids):,})" if isinstance(value, list) else label(shown)
            more.append((title, pd.DataFrame({TRACE_COLUMN: [trace_href(t, None) or t for t in ids]})))
        elif _plain(value):
            facts.append((label(shown), _fmt(value, unit)))
        elif isinstance(value, list) and all(_plain(v) for v in value):
            if len(value) <= SHORT_LIST:
                facts.append((label(shown), ", ".join(_fmt(v, unit) for v in value) or numbers.MISSING))
            else:
                more.append((f"{label(shown)} ({len(value):,})",
                             pd.DataFrame({label(shown).rstrip("s") or "Value": [_fmt(v, unit) for v in value]})))
        elif isinstance(value, list):
            rows = [v if isinstance(v, dict) else {"value": v} for v in value]
            more += _record_tables(label(shown), shown, rows, units, trace_href, record_href=record_href)
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [{"key": k, **v} for k, v in value.items()]
            first, *nested = _record_tables(label(shown), shown, rows, units, trace_href, record_href=record_href)
            more += [(first[0], first[1].rename(columns={"Key": label(shown).rstrip("s")})), *nested]
        elif isinstance(value, dict):
            if not value:
                facts.append((label(shown), numbers.MISSING))
            else:
                more.append((label(shown), pd.DataFrame([(str(k), _fmt(v, units.get(str(k), unit))) for k, v in value.items()],
                                                       columns=["Name", "Value"])))
    out = [("Facts", pd.DataFrame(facts, columns=["Field", "Value"]))] if facts else []
    return out + more
