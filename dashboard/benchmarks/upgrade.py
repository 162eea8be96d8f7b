"""How long an older store's upgrade takes, and how close its progress lines' time left came
(`seamwatch bench upgrade`).

A store of the sample shop's spans and records (copied from a template, as `bench analyses`
makes them) is written again at an older schema, as that Seamwatch left it: its traces noted
in trace_facts, its spans scanned. Opening it runs every later migration, with the progress
lines a user sees; then the derivation of the traces migrations 006 and 007 queued, as
`findings` runs it.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from collectors.store import Store
from collectors.store.lake import file_statements
from collectors.store.migrate import LATEST, MIGRATIONS
from collectors.store.upgrade_progress import EVERY_VARIABLE, Step, Upgrade, duration


def older_schema(con: duckdb.DuckDBPyConnection, upto: int) -> None:
    """Give an empty DuckDB file the schema of the migrations up to ``upto``, recorded as applied."""
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for number, name, sql in MIGRATIONS:
        if number <= upto:
            for query in file_statements(sql):
                con.execute(query)
            con.execute("INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, name])


def noted_and_scanned(con: duckdb.DuckDBPyConnection) -> None:
    """What an older Seamwatch had done with the spans: every trace noted, the spans scanned."""
    con.execute("""INSERT INTO trace_facts (trace_id, span_count, start_time, end_time, derived_at)
                   SELECT trace_id, count(*), min(start_time), max(end_time), now()::TIMESTAMP FROM spans
                   GROUP BY trace_id""")
    con.execute("INSERT INTO derive_state SELECT 'spans', max(ingested_at) FROM spans")


def _older_copy(current: Path, old: Path, upto: int) -> None:
    con = duckdb.connect(str(old))
    try:
        older_schema(con, upto)
        con.execute(f"ATTACH '{current}' AS cur (READ_ONLY)")  # a path we made: not input
        for table in ("spans", "records", "topic_offsets"):
            con.execute(f'INSERT INTO "{table}" SELECT * FROM cur."{table}"')  # noqa: S608 (fixed names)
        con.execute("INSERT INTO group_offsets BY NAME SELECT * FROM cur.group_offsets")
        con.execute("DETACH cur")
        noted_and_scanned(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()


class _Tee(io.TextIOBase):
    """The progress lines go to stderr as ever; the bench keeps a copy."""

    def __init__(self, out: io.TextIOBase) -> None:
        self.out, self.lines = out, io.StringIO()

    def write(self, text: str) -> int:
        self.lines.write(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def _estimates(step: Step) -> str:
    """How close each line's time left came: the end it foretold against the real one."""
    said = [f"at {pct:.0f}% said {duration(left)} left, was {duration(step.seconds - at)}"
            for at, pct, left in step.estimates]
    return "; ".join(said) if said else "no percentage line"


def run(*, spans: int, records: int, upto: int, every: float, keep: Path | None = None) -> Iterator[str]:
    from collectors.progress import derive_showing_progress
    from dashboard.benchmarks import records as more_records
    from dashboard.benchmarks.analyses import _template, fresh_store, generate

    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-upgrade-") as tmp_name:
        tmp = Path(tmp_name) if keep is None else keep
        tmp.mkdir(parents=True, exist_ok=True)
        template = _template(Path(tmp_name))
        with fresh_store(tmp, "current.duckdb") as store:
            have = generate(store, spans=spans, template=template)["records"]
            if records > have:  # the shop's spans come with few records: the rest copied alone
                more_records.generate(store, records=records - have, template=template)
        old = tmp / "old.duckdb"
        old.unlink(missing_ok=True)
        t0 = time.perf_counter()
        _older_copy(tmp / "current.duckdb", old, upto)
        yield f"an older store at schema {upto} written in {duration(time.perf_counter() - t0)}"
        (tmp / "current.duckdb").unlink()
        tee = _Tee(sys.stderr)  # type: ignore[arg-type]
        before = os.environ.get(EVERY_VARIABLE)
        os.environ[EVERY_VARIABLE] = str(every)
        try:
            with contextlib.redirect_stderr(tee):  # type: ignore[type-var]
                t0 = time.perf_counter()
                store = Store(old).open()
                upgraded = time.perf_counter() - t0
                try:
                    t0 = time.perf_counter()
                    derived = derive_showing_progress(store, what="deriving again")
                    deriving = time.perf_counter() - t0
                    counts = store.counts()
                finally:
                    store.close()
        finally:
            if before is None:
                os.environ.pop(EVERY_VARIABLE)
            else:
                os.environ[EVERY_VARIABLE] = before
        load = os.getloadavg()
        yield (f"{counts['spans']:,} spans, {counts['records']:,} records; upgraded from {upto} to {LATEST} in "
               f"{duration(upgraded)} (load average {load[0]:.1f}, {load[1]:.1f})")
        upgrade = Upgrade.last
        if upgrade is not None:
            for migration in upgrade.todo:
                steps = [s for s in upgrade.steps if s.migration == migration]
                yield f"  {migration.removesuffix('.sql')}: {duration(sum(s.seconds for s in steps))}"
                for s in steps:
                    if s.seconds >= every:
                        yield f"    {s.what}: {duration(s.seconds)}; {_estimates(s)}"
        yield (f"then derived {derived.traces:,} traces again in {duration(deriving)} "
               f"({derived.traces / max(deriving, 1e-9):,.0f} traces/s)")
