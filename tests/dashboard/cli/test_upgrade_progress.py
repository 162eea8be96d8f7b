"""An older store's upgrade says how far it got and the time left while it runs, and keeps every
row (docs/architecture.md#the-store, collectors/store/upgrade_progress.py).

The store is real and old: the schema of migration 005 with enough records that 008's rebuild
of `records` runs for a while, and traces an older Seamwatch had noted, which 006 and 007 queue
to be derived again. It is opened with the command a user runs: `findings` on a file (it
upgrades, then derives), `collect` on a lake (readers never write a lake). Progress lines come
every SEAMWATCH_PROGRESS_EVERY seconds, short here so a small store shows them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from collectors.store import Store, schema_version
from collectors.store.faults import name as store_name
from collectors.store.migrate import LATEST, MIGRATIONS
from collectors.store.upgrade_progress import EVERY, EVERY_VARIABLE, every
from dashboard.benchmarks.upgrade import noted_and_scanned, older_schema
from dashboard.cli import cli
from dashboard.cli import serve as serve_module
from tests.conftest import older_lake
from tests.support.net import free_port
from tests.support.processes import interrupt, seamwatch

ROOT = Path(__file__).resolve().parents[3]
OLD = 5
RECORDS = 400_000
TRACES = 300
ENV = {**os.environ, "SEAMWATCH_PROGRESS_EVERY": "0.05"}

# a line while 008 copies records: its percentage and the time left at that rate
PERCENT = re.compile(r"008_records_excerpt_zstd \(\d+ of \d+\), statement \d+ of \d+ \(INSERT INTO records_zstd\): "
                     r"(\d+)% done in [\d.]+ s, about \d+ s left")


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    """RECORDS records with payload-sized excerpts, and TRACES traces of spans an older Seamwatch noted."""
    con.execute(f"""
        INSERT INTO records (cluster, topic, "partition", "offset", "key", "timestamp", value_size, value_excerpt,
                             value_hash, event_id, tapped_at)
        SELECT 'old', 'orders.v' || (i % 8), i % 12, i, 'k-' || i, TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND,
               600, '{{"orderId": ' || i || ', "note": "' || repeat(md5(i::VARCHAR), 16) || '"}}', md5(i::VARCHAR),
               'e-' || i, TIMESTAMP '2026-01-01'
        FROM range({RECORDS}) t(i)""")  # noqa: S608 (constants)
    con.execute(f"""
        INSERT INTO spans (trace_id, span_id, parent_span_id, service, name, kind, start_time, end_time, duration_us,
                           status_code)
        SELECT printf('%032x', i // 3), printf('%016x', i + 1), CASE WHEN i % 3 > 0 THEN printf('%016x', i - i % 3 + 1) END,
               'orders-api', 'POST /orders', CASE WHEN i % 3 = 0 THEN 2 ELSE 3 END,
               TIMESTAMP '2026-01-01' + INTERVAL (i) SECOND, TIMESTAMP '2026-01-01' + INTERVAL (i + 1) SECOND,
               1000000, 0
        FROM range({TRACES * 3}) t(i)""")  # noqa: S608 (constants)


def _fingerprint(cur: duckdb.DuckDBPyConnection) -> tuple:
    """Every record's every column, and the spans: equal before and after when the upgrade kept them."""
    return (cur.execute("SELECT count(*), sum(hash(r)) FROM records r").fetchone(),
            cur.execute("SELECT count(*), sum(hash(s)) FROM spans s").fetchone())


def _lines_said(stderr: str, where: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    assert (f"upgrading {where} from schema {OLD} to {LATEST}: "
            f"{sum(n > OLD for n, _, _ in MIGRATIONS)} migrations; records holds {RECORDS:,} rows") in stderr, stderr
    percents = [int(m.group(1)) for m in PERCENT.finditer(stderr)]
    assert percents, stderr  # the rebuild said how far it got, with the time left
    assert percents == sorted(percents) and all(0 < p <= 100 for p in percents), percents
    assert re.search(rf"upgraded {re.escape(where)} to schema {LATEST} in [\d.]+ s; {TRACES:,} traces are queued "
                     r"to be derived again", stderr), stderr


@pytest.mark.file_only
def test_findings_on_an_older_file_says_the_upgrade_s_progress_and_keeps_every_row(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        older_schema(con, OLD)
        _fill(con)
        noted_and_scanned(con)
        before = _fingerprint(con)

    res = subprocess.run(seamwatch("findings", "--db", str(db), "--json"), capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    _lines_said(res.stderr, str(db))
    assert json.loads(res.stdout)["pending"]["traces"] == 0  # then derived, before the findings

    with Store(db, read_only=True) as s:
        cur = s.cursor()
        assert schema_version(cur) == LATEST
        assert _fingerprint(cur) == before
        assert cur.execute("SELECT count(DISTINCT trace_id) FROM trace_segments").fetchone() == (TRACES,)


@pytest.mark.lake
def test_collect_on_an_older_lake_says_the_upgrade_s_progress_and_keeps_every_row(new_lake, tmp_path: Path) -> None:
    location = new_lake(create_it=False)
    con = older_lake(location, tmp_path / "lake", OLD)
    try:
        _fill(con)
        noted_and_scanned(con)
        before = _fingerprint(con)
    finally:
        con.close()

    proc = subprocess.Popen(seamwatch("collect", "--db", location, "--otlp-http", f"127.0.0.1:{free_port()}"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    said: list[str] = []
    upgraded = threading.Event()

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            said.append(line)
            if line.startswith("upgraded "):
                upgraded.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert upgraded.wait(90), "".join(said)[-3000:]
        time.sleep(0.5)  # the collectors start on the upgraded lake
    finally:
        interrupt(proc, timeout=30)
        reader.join(10)
    _lines_said("".join(said), store_name(location))

    with Store(location, read_only=True) as s:
        cur = s.cursor()
        assert schema_version(cur) == LATEST
        assert _fingerprint(cur) == before


@pytest.mark.file_only
def test_the_dashboard_on_an_older_file_says_how_to_upgrade_it_and_leaves_it_as_it_is(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        older_schema(con, OLD)
    served: list = []
    monkeypatch.setattr(serve_module, "serve_dashboard", served.append)  # not the app itself: its start only
    result = CliRunner().invoke(cli, ["dashboard", "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert served and served[0].db == str(db)
    assert (f"{db} has schema version {OLD}, this Seamwatch {LATEST}: the dashboard reads it as it is and never "
            f"upgrades it") in result.stderr
    assert f"Upgrade it once with 'seamwatch findings --db {db}'" in result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert schema_version(con) == OLD


@pytest.mark.file_only
@pytest.mark.parametrize("given", ["soon", "0", "-3"])
def test_a_progress_interval_that_is_not_seconds_is_one_line_and_the_default(given: str, monkeypatch,
                                                                             caplog) -> None:
    monkeypatch.setenv(EVERY_VARIABLE, given)
    assert every() == EVERY
    said = [r.getMessage() for r in caplog.records if r.name == "collectors.store.upgrade_progress"]
    assert said == [f"{EVERY_VARIABLE}={given!r} is not a number of seconds; progress is said every {EVERY:g} s"]
    monkeypatch.setenv(EVERY_VARIABLE, "0.5")
    assert every() == 0.5
