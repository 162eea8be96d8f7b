"""`seamwatch import` under load: seconds and peak memory for good lines, rejected lines and one
huge line in a small gzip file (issue 10, case 13: 1M rejected lines peaked at 3.6 GB, a 2 GiB
line at 4.9 GB). Each case imports in a fresh process, which reports its own peak RSS (VmHWM)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHILD = """
import json, sys, time
from collectors.importer import import_file
from collectors.store import Store
out = {"rows": 0, "rejected": 0, "error": None}
started = time.perf_counter()
try:
    with Store(sys.argv[2]) as store:
        result = import_file(store, sys.argv[1])
        out.update(rows=sum(result.rows.values()), rejected=result.rejected)
except Exception as exc:  # an importer that fails still has a peak to report
    out["error"] = (type(exc).__name__ + ": " + str(exc)).splitlines()[0][:200]
out["seconds"] = time.perf_counter() - started
hwm = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:'))
out["peak_mb"] = hwm / 1024
print(json.dumps(out))
"""


def _write_lines(path: Path, lines: int, *, rejected: bool) -> None:
    with path.open("w") as fh:
        fh.write(json.dumps({"topic": "orders", "partition": 0, "offset": 0}) + "\n")
        for i in range(1, lines + 1):
            offset = f"x{i}" if rejected else i  # a text offset: rejected by every importer version
            fh.write(json.dumps({"topic": "orders", "partition": i % 3, "offset": offset,
                                 "value": {"orderId": f"order-{i}", "note": "y" * 220}}) + "\n")


def _write_long_line(path: Path, size: int) -> None:
    chunk = b"x" * (1 << 24)
    with gzip.open(path, "wb", compresslevel=6) as fh:
        fh.write(b'{"topic": "orders", "partition": 0, "offset": 1}\n')
        fh.write(b'{"topic": "orders", "partition": 0, "offset": 2, "value": "')
        left = size
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
        fh.write(b'"}\n{"topic": "orders", "partition": 0, "offset": 3}\n')


def _measure(data: Path, tmp: Path) -> dict[str, float]:
    db = tmp / f"{data.stem}.duckdb"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(db)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(*, lines: int, long_line: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-import-") as name:
        tmp = Path(name)
        cases: list[tuple[str, Path]] = []
        tiny = tmp / "tiny.jsonl"
        _write_lines(tiny, 10, rejected=False)
        cases.append(("10 good record lines (the floor: interpreter, DuckDB, Arrow)", tiny))
        good = tmp / "good.jsonl"
        _write_lines(good, lines, rejected=False)
        cases.append((f"{lines:,} good record lines", good))
        bad = tmp / "bad.jsonl"
        _write_lines(bad, lines, rejected=True)
        cases.append((f"{lines:,} rejected record lines", bad))
        if long_line:
            big = tmp / "long.jsonl.gz"
            _write_long_line(big, long_line)
            cases.append((f"one {long_line / 2**20:,.0f} MiB line in a {big.stat().st_size / 2**20:.1f} MB gzip file",
                          big))
        for label, path in cases:
            m = _measure(path, tmp)
            rate = (m["rows"] + m["rejected"]) / m["seconds"] if m["seconds"] else 0
            outcome = f"FAILED ({m['error']})" if m["error"] else (
                f"{m['rows']:,.0f} stored, {m['rejected']:,.0f} rejected")
            yield (f"{label}: {outcome} in {m['seconds']:.1f} s ({rate:,.0f} lines/s), "
                   f"peak RSS {m['peak_mb']:,.0f} MB")
