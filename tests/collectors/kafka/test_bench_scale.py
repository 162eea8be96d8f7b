"""`seamwatch bench scale` at a small size: every part of its report is there and makes sense
(timing targets belong to the bench itself, never to this test)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.lake, pytest.mark.slow]
NUMBER = r"([\d,.]+)"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _find(pattern: str, out: str) -> re.Match[str]:
    m = re.search(pattern, out, re.MULTILINE)
    assert m, f"no line matching {pattern!r} in:\n{out}"
    return m


def test_a_small_scale_bench_reports_rates_queries_files_and_sizes(bootstrap, postgres) -> None:
    cmd = [sys.executable, "-c", "from dashboard.cli import main; main()", "bench", "scale",
           "--bootstrap", bootstrap, "--postgres", postgres.conninfo(), "--messages", "20000",
           "--spans", "50000", "--rounds", "3", "--retain", "2h"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert _find(r"^before: load average", out) and _find(r"^after: load average", out)
    for name in ("file, 1 collector", "lake, 1 collector", "lake, 2 collectors"):
        rate = _number(_find(rf"^tap {name}\s+{NUMBER} records/s", out).group(1))
        assert rate > 0, name
    ratios = _find(rf"^tap ratios: lake 1 / file {NUMBER}x, lake 2 / lake 1 {NUMBER}x, lake 2 / file {NUMBER}x", out)
    assert all(_number(r) > 0 for r in ratios.groups())
    shares = _find(r"^tap lake, 2 collectors .*records per collector \[(\d+), (\d+)\]", out)
    assert sum(int(n) for n in shares.groups()) >= 20_000  # both taps of the group, every record
    # page queries on both stores, each timed
    rows = re.findall(rf"^(\S.{{15}})(\S+)\s+(1 h|all)\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}x$", out, re.MULTILINE)
    assert len(rows) >= 8, out
    assert all(_number(r[3]) > 0 and _number(r[4]) > 0 and _number(r[6]) > 0 for r in rows)
    read, everything = (int(n) for n in _find(r"^files read by a 1-hour window of spans: (\d+) of (\d+)", out).groups())
    assert 1 <= read <= everything
    compaction = _find(rf"^lake on disk before maintenance: {NUMBER} MB in (\d+) Parquet files; after .*: "
                       rf"{NUMBER} MB in (\d+) files", out)
    assert 0 < int(compaction.group(4)) <= int(compaction.group(2))
    lake_files = _find(r"^  lake: .*; Parquet files \[([\d, ]+)\]", out)
    counts = [int(n) for n in lake_files.group(1).split(",")]
    assert len(counts) == 3 and counts[-1] <= 2 * 2 + 2  # one file per hour kept, per partially kept hour
    _find(rf"^  last round against the largest: file {NUMBER}x, lake {NUMBER}x", out)
