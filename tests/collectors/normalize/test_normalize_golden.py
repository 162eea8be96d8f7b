"""Golden tests: one rich input file each, imported through the real import path, the exact rows out.

Regenerate after a reviewed change with SEAMWATCH_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collectors.importer import import_file

GOLDEN = Path(__file__).parent / "golden"
_VOLATILE = {"tapped_at", "ingested_at", "at"}


def _rows(store, table: str, order: str) -> list[dict]:
    cur = store.cursor()
    rel = cur.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
    names = [d[0] for d in rel.description]
    out = []
    for values in rel.fetchall():
        row = {}
        for n, v in zip(names, values, strict=True):
            if n in _VOLATILE:
                continue
            row[n] = v.isoformat() if hasattr(v, "isoformat") else v
        out.append(row)
    return out


@pytest.mark.parametrize(
    ("source", "tables"),
    [
        ("otlp_rich.jsonl", {"spans": "trace_id, span_id", "ingest_errors": "location, reason"}),
        ("records_rich.jsonl", {"records": 'topic, "partition", "offset"', "ingest_errors": "location, reason"}),
    ],
)
def test_normalize_golden(store, source: str, tables: dict[str, str]) -> None:
    import_file(store, GOLDEN / source, cluster="golden")
    got = {table: _rows(store, table, order) for table, order in tables.items()}
    expected_path = GOLDEN / source.replace(".jsonl", ".expected.json")
    if os.environ.get("SEAMWATCH_UPDATE_GOLDEN"):
        expected_path.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    expected = json.loads(expected_path.read_text())
    assert got == json.loads(json.dumps(got, sort_keys=True)) and got == expected
