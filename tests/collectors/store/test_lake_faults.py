"""Faults of a lake under running collectors (collectors/store/faults.py): commit conflicts,
PostgreSQL stopped, two processes upgrading one lake. Each is waited out or retried, loses and
repeats nothing, and is told in one line of the log without a traceback."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from collectors.otlp import OtlpReceiver
from collectors.store import Store, schema_version
from collectors.store.migrate import LATEST, MIGRATIONS
from tests.collectors.otlp.conftest import FAST, post, through_an_outage
from tests.collectors.otlp.requests import request
from tests.conftest import lake_on, older_lake

pytestmark = pytest.mark.lake
ROOT = Path(__file__).resolve().parents[3]
SPANS = 50  # per request
MARK = "deleted-by-the-test"


class Deleter:
    """Another writer of the lake that deletes rows of ``table`` over and over, as retention does:
    every append to the table that is under way when one of its deletes commits conflicts."""

    def __init__(self, location: str, table: str, key: str, seconds: float) -> None:
        self.store = Store(location).open()
        self.table, self.key, self.seconds, self.deletes, self.left = table, key, seconds, 0, False
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        cur = self.store.cursor()
        end = time.monotonic() + self.seconds
        while time.monotonic() < end or self.left:
            try:  # a copy of a span, marked, then deleted
                if not self.left:
                    cur.execute(f"INSERT INTO {self.table} SELECT * REPLACE ('{MARK}' AS {self.key}) "  # noqa: S608
                                f"FROM {self.table} LIMIT 1")
                    self.left = True
                cur.execute(f"DELETE FROM {self.table} WHERE {self.key} = '{MARK}'")  # noqa: S608
                self.left = False
                self.deletes += 1
            except Exception:  # noqa: BLE001,S112 (its own conflicts with the collector: try again)
                continue

    def join(self) -> None:
        self.thread.join()
        self.store.close()


def _one_line(records: list[logging.LogRecord], needle: str) -> list[str]:
    lines = [r.getMessage() for r in records if needle in r.getMessage()]
    assert all(r.exc_info is None for r in records), "a traceback was logged"
    assert all("\n" not in line for line in lines), lines
    return lines


def test_otlp_writer_commits_again_through_conflicts_and_loses_no_acknowledged_span(new_lake, caplog) -> None:
    """Was: after 5 conflicts in a row the writer gave up a batch it had answered 200 for."""
    caplog.set_level(logging.INFO)
    location = new_lake()
    with Store(location) as store:
        receiver = OtlpReceiver(store, FAST)
        receiver.start()
        try:
            assert post(receiver.http_address, request(SPANS).SerializeToString())[0] == 200  # a row to delete
            deadline = time.monotonic() + 20
            while store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0] < SPANS:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            deleter = Deleter(location, "spans", "span_id", seconds=6.0)
            statuses = [200]
            try:
                for _ in range(8):
                    statuses.append(post(receiver.http_address, request(SPANS).SerializeToString())[0])
                    time.sleep(0.3)
            finally:
                deleter.join()
        finally:
            receiver.stop()
        stored = store.cursor().execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchone()
    status = receiver.status()
    assert deleter.deletes > 0 and receiver.writer.write_failures > 0, "the deleter never conflicted with the writer"
    acknowledged = statuses.count(200)
    assert (status.rows_lost, status.rows_unwritten, stored) == (0, 0, (acknowledged * SPANS, acknowledged * SPANS))
    assert statuses == [200] * 9, "a conflict is no reason to refuse an export"
    assert _one_line(caplog.records, "conflicted with another writer")


def test_catalog_stopped_under_a_receiver_answers_503_then_stores_every_acknowledged_span_once(
        own_postgres, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    through_an_outage(lake_on(own_postgres, tmp_path / "lake"), lambda: own_postgres.stop(mode="immediate"),
                      own_postgres.start, what="PostgreSQL")
    down = _one_line(caplog.records, "cannot be reached")
    assert len(down) == 1, down
    assert "the lake's catalog (PostgreSQL host=127.0.0.1 port=" in down[0] and "user=" not in down[0]


@pytest.mark.parametrize("steps_behind", [8])  # from 005: every later step, ON CONFLICT statements too
def test_two_processes_upgrading_one_older_lake_at_once_both_carry_on(new_lake, tmp_path: Path,
                                                                      steps_behind: int) -> None:
    location = new_lake(create_it=False)
    older_lake(location, tmp_path / "older", MIGRATIONS[-1 - steps_behind][0]).close()
    opener = textwrap.dedent("""
        import sys, time
        from collectors.store import Store, schema_version
        start = float(sys.argv[2])
        time.sleep(max(0.0, start - time.time()))  # both open at the same moment
        with Store(sys.argv[1]) as s:
            print(schema_version(s.con), flush=True)
    """)
    start = str(time.time() + 4)  # past both interpreters' start-up
    procs = [subprocess.Popen([sys.executable, "-c", opener, location, start], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        # the last line: DuckDB may draw its progress bar above it on a slow machine
        assert proc.returncode == 0 and out.strip().splitlines()[-1].strip() == str(LATEST), err[-2000:]
        assert "Traceback" not in err
    with Store(location, read_only=True) as s:
        assert schema_version(s.con) == LATEST
        versions = s.cursor().execute("SELECT version, count(*) FROM schema_version GROUP BY 1 ORDER BY 1").fetchall()
    assert versions == [(n, 1) for n, _, _ in MIGRATIONS], "each migration applied once"


def test_retention_deletes_through_conflicts_with_another_writer(new_lake, caplog) -> None:
    from datetime import UTC, datetime

    from collectors.model import RECORD_SCHEMA, to_table
    from collectors.normalize.records import record_row
    from collectors.store.retention import delete_older_than

    caplog.set_level(logging.INFO, logger="collectors.store.faults")
    location = new_lake()

    def batch(first: int) -> dict:
        return {"records": to_table([record_row(
            cluster="c", topic="t", partition=0, offset=o, key=b"k", value=b"{}", headers=[],
            timestamp_ms=1_700_000_000_000 + o * 1000, timestamp_type=1, tapped_at_us=0, source="test")
            for o in range(first, first + 20)], RECORD_SCHEMA)}

    with Store(location) as store:
        for first in range(0, 200, 20):
            store.append(batch(first))
        deleter = Deleter(location, "records", "key", seconds=4.0)
        try:
            deleted = 0
            for upto in (70, 140, 200):  # retention catching up, a step at a time (each deletes from every table)
                cutoff = datetime.fromtimestamp(1_700_000_000 + upto, UTC).replace(tzinfo=None)  # naive UTC
                deleted += delete_older_than(store, cutoff)["records"]
        finally:
            deleter.join()
        # every row went, and retention may also have deleted the other writer's copies of old rows
        assert store.counts()["records"] == 0 and deleted >= 200
    assert _one_line(caplog.records, "retention of records: the commit conflicted")


def test_a_catalog_is_named_without_its_user_or_password() -> None:
    from collectors.store.faults import catalog_name

    assert catalog_name("ducklake:postgres:dbname=lake host=db1 port=5433 user=sw password=secret") == (
        "PostgreSQL host=db1 port=5433 dbname=lake")
