"""Records search at millions of stored records (target: a 1-hour search under 1 s).

The sample shop's records (TEMPLATE_MINUTES of the simulator, imported the normal way) are
copied in bulk with DuckDB SQL until the store holds the asked number, spread evenly over
SPREAD (so a 1-hour window holds SPREAD's share: about 420k records of 10M over a day, a
busy cluster's hour). Each copy shifts times, moves offsets past the previous copy's and
suffixes keys and ids with the copy number, so a key search finds one copy's records, not
every copy's. Rows are inserted in time order per statement, as the tap appends them.

Each search is timed as the Records page runs it: one page of results, and the matches per
minute and topic (the chart, whose sum is the count).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from collectors.bench import load_average
from collectors.store import Store
from dashboard.analyses import records as recs
from dashboard.analyses.processings import auto_bucket
from dashboard.analyses.window import Window
from dashboard.benchmarks.analyses import (
    ID_COPY_SEPARATOR,
    TEMPLATE_MINUTES,
    _template,
    _time,
    fresh_store,
    slowest,
    verdict,
)

SPREAD = timedelta(days=1)
ROWS_PER_STATEMENT = 500_000

_COPY = """
INSERT INTO records
SELECT * EXCLUDE (k) REPLACE (
    "offset" + k * $stride AS "offset",
    "timestamp" + to_microseconds(k * $shift) AS "timestamp",
    tapped_at + to_microseconds(k * $shift) AS tapped_at,
    CASE WHEN "key" IS NULL THEN NULL ELSE "key" || $sep || k END AS "key",
    CASE WHEN trace_id IS NULL THEN NULL ELSE printf('%08x', k) || substr(trace_id, 9) END AS trace_id,
    event_id || $sep || k AS event_id,
    causation_id || $sep || k AS causation_id,
    correlation_id || $sep || k AS correlation_id
)
FROM tpl.records, range($k0, $k1) AS r(k)
ORDER BY "timestamp"
"""


def generate(store: Store, *, records: int, template: Path) -> int:
    """Fill ``store`` with about ``records`` records copied from the template; returns the count."""
    reader = store.cursor()
    reader.execute(f"ATTACH '{template}' AS tpl (READ_ONLY)")  # a path we made: not input
    n_template, stride = reader.execute('SELECT count(*), max("offset") + 1 FROM tpl.records').fetchone()
    copies = max(1, math.ceil(records / n_template))
    shift = int(SPREAD / timedelta(microseconds=1)) // copies
    per_statement = max(1, ROWS_PER_STATEMENT // n_template)
    with tqdm(total=copies * n_template, unit=" records", unit_scale=True, desc="generating", leave=False,
              disable=None) as bar:
        for k0 in range(0, copies, per_statement):
            k1 = min(copies, k0 + per_statement)
            with store.transaction() as tx:
                tx.cursor.execute(_COPY, {"k0": k0, "k1": k1, "shift": shift, "stride": stride,
                                          "sep": ID_COPY_SEPARATOR})
            bar.update((k1 - k0) * n_template)
    reader.execute("DETACH tpl")
    reader.execute("CHECKPOINT")  # read from storage, as a page reads a running store
    return store.counts()["records"]


def _searches(cur: Any, window: Window) -> list[tuple[str, recs.RecordQuery]]:
    """Searches of every filter kind, with values the window's records really hold."""
    row = cur.execute(
        """SELECT topic, "partition", "offset", "key" FROM records
           WHERE "timestamp" >= ? AND "timestamp" < ? AND topic = 'shop.orders' AND "key" IS NOT NULL
           ORDER BY "timestamp" LIMIT 1""", window.params).fetchone()
    topic, partition, offset, key = row if row else ("shop.orders", 0, 0, "none")
    account = cur.execute(
        """SELECT json_extract_string(value_excerpt, '$.data.accountId') FROM records
           WHERE "timestamp" >= ? AND "timestamp" < ? AND topic = 'shop.orders' AND json_valid(value_excerpt)
             AND json_extract_string(value_excerpt, '$.data.accountId') IS NOT NULL LIMIT 1""",
        window.params).fetchone()
    account = account[0] if account else "acc-0"
    q = recs.RecordQuery
    return [
        ("everything (newest 50)", q()),
        ("topic", q(topic=topic)),
        ("topic+partition+offsets", q(topic=topic, partition=partition, offset_from=offset - 1000,
                                      offset_to=offset + 1000)),
        ("key", q(key=key)),
        ("header name", q(header="ce_subject")),
        ("header name+value", q(header="content-type", header_value="json")),
        ("value substring", q(value=account)),
        ("JSON path", q(value=f'$.data.accountId == "{account}"')),
        ("JSON path, topic", q(topic=topic, value=f'$.data.accountId == "{account}"')),
        ("no match", q(value="no-such-text-anywhere")),
    ]


def measure(store: Store) -> Iterator[tuple[str, str, float, int]]:
    """(search, window, seconds, matches): each search as the page runs it (a page and the count)."""
    cur = store.cursor()
    everything = Window.everything(cur)
    hour = Window(everything.end - timedelta(hours=1), everything.end)
    for name, q in _searches(cur, hour):
        found: list[int] = []

        def page(q: recs.RecordQuery = q, found: list[int] = found) -> None:
            recs.search(cur, hour, q)
            found[:] = [int(recs.over_time(cur, hour, q, bucket=auto_bucket(hour, 60))["records"].sum())]
        yield name, "1 h", _time(page), found[0]
    row = cur.execute('SELECT topic, "partition", "offset" FROM records ORDER BY "timestamp" LIMIT 1').fetchone()
    lookups: list[tuple[str, Callable[[], Any]]] = [
        ("one record by position", lambda: recs.record(cur, *row)),
        ("its processings and copies", lambda: _story(cur, row)),
    ]
    for name, fn in lookups:
        yield name, "all", _time(fn), 1


def _story(cur: Any, position: tuple[str, int, int]) -> None:
    rec = recs.record(cur, *position)
    assert rec is not None
    recs.processings(cur, rec)
    recs.dead_letter_copies(cur, rec)
    recs.duplicate_publications(cur, rec)


def run(*, sizes: list[int], keep: Path | None = None) -> Iterator[str]:
    """Generate each size and time the searches; yields the lines of the report."""
    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-records-") as tmp_name:
        tmp = Path(tmp_name)
        template = _template(tmp)
        for size in sizes:
            with fresh_store(keep or tmp, f"bench-records-{size}.duckdb") as store:
                t = time.perf_counter()
                n = generate(store, records=size, template=template)
                gen_s = time.perf_counter() - t
                per_hour = n * timedelta(hours=1) / SPREAD
                yield (f"== records search: {n:,} records over {SPREAD.days} day(s) (~{per_hour:,.0f} an hour), "
                       f"generated in {gen_s:.1f} s from {TEMPLATE_MINUTES} minutes of the sample shop; {load_average()}")
                yield f"{'search':<30}{'window':>7}{'matches':>10}{'seconds':>10}{'target':>9}"
                worst = 0.0
                for name, label, seconds, matches in measure(store):
                    worst = max(worst, seconds)
                    yield f"{name:<30}{label:>7}{matches:>10,}{seconds:>10.3f}{verdict(seconds):>9}"
                yield f"{slowest(worst, 'search')}; {load_average()}"
