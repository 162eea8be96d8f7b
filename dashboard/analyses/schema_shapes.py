"""Event shapes per (topic, event type, version) over time (docs/architecture.md#unversioned-schema-changes).

A record's shape is the set of its JSON value's field paths with their JSON types (string,
number, boolean, object fields by dotted path, array, null), as DuckDB's json_structure reads
it. Values decoded through a schema registry (Avro, Protobuf, JSON Schema) are stored as the
decoded JSON, so their shapes come from the registry's schemas. Values that are not a whole
JSON object (binary, or cut by the excerpt bound) have no shape and are left out.

A version's shape changed incompatibly when a field every earlier record of the version had
stops appearing (removed), or a field's type changes (null is compatible with any type: an
optional value). A field that appears later is an addition, which old readers ignore.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses.processings import RETRY_TOPIC_RE, as_dt
from dashboard.analyses.window import Window

_SHAPES = r"""
SELECT topic, event_type, event_version, json_structure(value_excerpt)::VARCHAR AS structure,
       count(*) AS records,
       min(coalesce("timestamp", tapped_at)) AS first_seen, max(coalesce("timestamp", tapped_at)) AS last_seen,
       arg_min("partition" || '/' || "offset", (coalesce("timestamp", tapped_at), "partition", "offset"))
           AS first_record
FROM records
WHERE coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
  AND NOT coalesce(is_dead_letter, false) AND NOT regexp_matches(topic, $retry_re)
  AND event_version IS NOT NULL AND value_excerpt IS NOT NULL
  AND starts_with(ltrim(value_excerpt), '{') AND json_valid(value_excerpt)
GROUP BY ALL
ORDER BY topic, event_type, event_version, first_seen
"""

_NUMBERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "DOUBLE", "FLOAT", "DECIMAL"}


def flatten(structure: Any, prefix: str = "") -> dict[str, str]:
    """json_structure's answer → {field path: JSON type}."""
    out: dict[str, str] = {}
    if isinstance(structure, dict):
        for k, v in structure.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out[path] = "object"
                out.update(flatten(v, path))
            elif isinstance(v, list):
                out[path] = "array"
            else:
                t = str(v).upper()
                out[path] = ("number" if t in _NUMBERS or t.startswith("DECIMAL") else "string" if t == "VARCHAR"
                             else "boolean" if t == "BOOLEAN" else "null" if t == "NULL" else t.lower())
    return out


@dataclass
class Shape:
    fields: dict[str, str]
    records: int
    first_seen: datetime | None
    last_seen: datetime | None
    first_record: str


@dataclass
class Change:
    """One incompatible change of a version's shape: what changed, and the shapes before and after."""
    topic: str
    event_type: str | None
    version: str
    removed: list[str] = field(default_factory=list)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (before, after)
    before: Shape | None = None
    after: Shape | None = None
    records: int = 0  # records in the changed shapes
    last_seen: datetime | None = None  # the last record in a changed shape


def shapes(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Distinct shapes per (topic, event type, version): records, first and last seen, first record."""
    return con.execute(_SHAPES, {"start": window.start, "end": window.end, "retry_re": RETRY_TOPIC_RE}).df()


def changes(con: duckdb.DuckDBPyConnection, window: Window) -> list[Change]:
    """Versions whose shape changed incompatibly in the window (see the module docstring)."""
    out = []
    df = shapes(con, window)
    for (topic, etype, version), g in df.groupby(["topic", "event_type", "event_version"], sort=True, dropna=False):
        seen = [Shape(flatten(json.loads(r.structure)), int(r.records), as_dt(r.first_seen), as_dt(r.last_seen),
                      str(r.first_record)) for r in g.sort_values("first_seen").itertuples()]
        if len(seen) < 2:
            continue
        change = Change(str(topic), None if pd.isna(etype) else str(etype), str(version))
        changed: list[Shape] = []
        for f in sorted({f for s in seen for f in s.fields}):
            having = [s for s in seen if f in s.fields]
            last = max(s.last_seen for s in having)
            without = [s for s in seen if f not in s.fields]
            # removed: every record had it until it stopped, and records went on without it
            if without and all(s.first_seen > last for s in without) and seen[0] in having:
                change.removed.append(f)
                changed += without
            types = [(s, s.fields[f]) for s in having if s.fields[f] != "null"]
            first_type = types[0][1] if types else None
            other = [s for s, t in types if t != first_type]
            if other:
                change.retyped[f] = (str(first_type), other[0].fields[f])
                changed += other
        if changed:
            changed_ids = {id(s) for s in changed}
            change.after = min(changed, key=lambda s: s.first_seen)
            change.before = next(s for s in seen if id(s) not in changed_ids)
            change.records = sum(s.records for s in seen if id(s) in changed_ids)
            change.last_seen = max(s.last_seen for s in seen if id(s) in changed_ids)
            out.append(change)
    return out
