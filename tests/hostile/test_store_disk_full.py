"""A full disk during `seamwatch import`: one sentence naming the file, nothing committed lost, and
the next import neither hides the cause ('cannot rollback - no transaction is active') nor
duplicates what the failed one committed. On a real, small tmpfs (needs root to mount)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.store import Store
from tests.hostile.conftest import tmpfs

pytestmark = pytest.mark.slow
LINES = 120_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "mnt", "8m") as path:
        yield path


def _import(data: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from dashboard.cli import main; main()", "import",
                           str(data), "--db", str(db)], capture_output=True, text=True, timeout=600, check=False)


def test_disk_full_is_one_sentence_and_the_next_import_finishes_the_file(tmp_path: Path, small_disk: Path) -> None:
    data = tmp_path / "records.jsonl"
    with data.open("w") as fh:
        for i in range(LINES):
            fh.write(json.dumps({"topic": "orders", "partition": i % 3, "offset": i,
                                 "value": {"id": f"e{i}", "payload": "x" * (200 + i % 97)}}) + "\n")
    db = small_disk / "s.duckdb"
    for _ in range(2):  # the second attempt on the still-full disk says the same, not 'cannot rollback'
        full = _import(data, db)
        assert full.returncode != 0
        problem = [line for line in full.stderr.splitlines() if line.strip() and "%" not in line]
        assert problem == [problem[0]] and problem[0].startswith("seamwatch: no space left on the device of "), \
            full.stderr[-2000:]
        assert str(db) in problem[0] and "Traceback" not in full.stderr and "rollback" not in full.stderr
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_disk)], check=True)
    done = _import(data, db)
    assert done.returncode == 0, done.stderr[-2000:]
    with Store(db, read_only=True) as s:
        total, distinct = s.cursor().execute(
            'SELECT count(*), count(DISTINCT ("partition", "offset")) FROM records').fetchone()
    assert total == distinct == LINES
    again = _import(data, db)
    assert again.returncode == 0 and "already imported, skipped" in again.stdout
