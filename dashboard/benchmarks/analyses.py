"""Query cost of every page's analyses at 1M and 10M spans (targets: each query under 300 ms
over the last hour, under 1 s over all history).

The data has the sample shop's shapes: a few minutes of the simulator are imported through
the real import path once, then copied in bulk with DuckDB SQL (no Python per row): each
copy shifts every time by the template's length, renames trace ids (the first 8 hex digits
carry the copy number, so ids stay unique and links, parents and traceparent headers stay
consistent), renames event, causation, correlation and message ids (a suffix with the copy
number, the same on records and spans, so a copy repeats no other copy's ids and invents
no duplicates or collisions) and moves offsets past the previous copy's. Then collectors.derive runs as it
would after an import, and each page's queries are timed over the last hour and over all
history.
"""

from __future__ import annotations

import inspect
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from collectors.bench import load_average
from collectors.derive import derive_all
from collectors.importer import import_file
from collectors.store import Store
from dashboard.analyses.window import Window

TARGET_S = 1.0  # all history (and the Records page's searches)
TARGETS_S = {"1 h": 0.3, "all": TARGET_S, "-": TARGET_S}  # by window; "-": one trace
TEMPLATE_MINUTES = 5
COPIES_PER_STATEMENT = 40
ID_COPY_SEPARATOR = "~"  # event id "e1" becomes "e1~k" in copy k

# Copy k of the template: times shifted by k periods, trace ids renamed, offsets moved on.
_COPY_SPANS = """
INSERT INTO spans
SELECT * EXCLUDE (k) REPLACE (
    printf('%08x', k) || substr(trace_id, 9) AS trace_id,
    start_time + to_microseconds(k * $period) AS start_time,
    end_time + to_microseconds(k * $period) AS end_time,
    list_transform(links, lambda l: struct_pack(trace_id := printf('%08x', k) || substr(l.trace_id, 9),
                                           span_id := l.span_id, attributes := l.attributes)) AS links,
    "offset" + k * $span_offsets AS "offset",
    message_id || $sep || k AS message_id,
    now()::TIMESTAMP AS ingested_at
)
FROM tpl.spans, range($k0, $k1) AS r(k)
ORDER BY k, start_time
"""

_COPY_RECORDS = """
INSERT INTO records
SELECT * EXCLUDE (k) REPLACE (
    "offset" + k * $span_offsets AS "offset",
    "timestamp" + to_microseconds(k * $period) AS "timestamp",
    tapped_at + to_microseconds(k * $period) AS tapped_at,
    CASE WHEN trace_id IS NULL THEN NULL ELSE printf('%08x', k) || substr(trace_id, 9) END AS trace_id,
    event_id || $sep || k AS event_id,
    causation_id || $sep || k AS causation_id,
    correlation_id || $sep || k AS correlation_id
)
FROM tpl.records, range($k0, $k1) AS r(k)
ORDER BY k, "timestamp"
"""

_COPY_GROUP_OFFSETS = """
INSERT INTO group_offsets
SELECT * EXCLUDE (k) REPLACE (
    committed_offset + k * $span_offsets AS committed_offset,
    high_watermark + k * $span_offsets AS high_watermark,
    polled_at + to_microseconds(k * $period) AS polled_at
)
FROM tpl.group_offsets, range($k0, $k1) AS r(k)
ORDER BY k, polled_at
"""

_COPY_TOPIC_OFFSETS = """
INSERT INTO topic_offsets
SELECT * EXCLUDE (k) REPLACE (
    low_watermark + k * $span_offsets AS low_watermark,
    high_watermark + k * $span_offsets AS high_watermark,
    observed_at + to_microseconds(k * $period) AS observed_at
)
FROM tpl.topic_offsets, range($k0, $k1) AS r(k)
ORDER BY k, observed_at
"""


def _template(tmp: Path) -> Path:
    """A small store holding TEMPLATE_MINUTES of the sample shop, imported the normal way."""
    from collectors.normalize.wire_format import FolderSchemas, WireDecoder
    from collectors.topology import load_into_store
    from sample_topology import TOPOLOGY_FILE
    from sample_topology.simulator import SCHEMAS, simulate_to_dir

    files = tmp / "files"
    files.mkdir()
    simulate_to_dir(files, seed=7, minutes=TEMPLATE_MINUTES, start_us=1_700_000_000_000_000)
    db = tmp / "template.duckdb"
    with Store(db) as store:
        load_into_store(store, TOPOLOGY_FILE)
        decoder = WireDecoder(FolderSchemas(files / SCHEMAS))  # the Avro topic's schemas
        for f in sorted(p for p in files.iterdir() if p.is_file()):
            import_file(store, f, cluster="bench", decoder=decoder)
    return db


def generate(store: Store, *, spans: int, template: Path) -> dict[str, int]:
    """Fill ``store`` with about ``spans`` spans copied from the template; returns row counts."""
    period = TEMPLATE_MINUTES * 60 * 1_000_000
    reader = store.cursor()
    reader.execute(f"ATTACH '{template}' AS tpl (READ_ONLY)")  # a path we made: not input
    n_template = reader.execute("SELECT count(*) FROM tpl.spans").fetchone()[0]
    # one offset stride for every partition keeps each copy's offsets after the previous one's
    stride = reader.execute(
        """SELECT greatest(max(o), 1) + 1 FROM (
               SELECT max("offset") AS o FROM tpl.records UNION ALL SELECT max(high_watermark) FROM tpl.group_offsets
               UNION ALL SELECT max(high_watermark) FROM tpl.topic_offsets UNION ALL
               SELECT max("offset") FROM tpl.spans)"""
    ).fetchone()[0]
    with store.transaction() as tx:
        for table in ("topology_services", "topology_endpoints", "topology_topics", "topology_groups",
                      "topology_sync_edges", "topology_limits"):
            tx.cursor.execute(f'INSERT INTO "{table}" SELECT * FROM tpl."{table}"')  # noqa: S608
    copies = max(1, math.ceil(spans / n_template))
    with tqdm(total=copies * n_template, unit=" spans", unit_scale=True, desc="generating", leave=False,
              disable=None) as bar:
        for k0 in range(0, copies, COPIES_PER_STATEMENT):
            k1 = min(copies, k0 + COPIES_PER_STATEMENT)
            params = {"k0": k0, "k1": k1, "period": period, "span_offsets": stride}
            with store.transaction() as tx:
                for sql in (_COPY_SPANS, _COPY_RECORDS):
                    tx.cursor.execute(sql, {**params, "sep": ID_COPY_SEPARATOR})
                for sql in (_COPY_GROUP_OFFSETS, _COPY_TOPIC_OFFSETS):
                    tx.cursor.execute(sql, params)
            bar.update((k1 - k0) * n_template)
    reader.execute("DETACH tpl")
    return {t: n for t, n in store.counts().items() if t in ("spans", "records", "group_offsets", "topic_offsets")}


def _page_queries() -> dict[str, list[tuple[str, Callable[..., Any]]]]:
    """Each page's analysis functions that take (con, window), then its rules' findings; other
    helpers' modules when present."""
    import importlib

    pages: dict[str, list[tuple[str, Callable[..., Any]]]] = {}
    wanted = {
        "call chains": ("dashboard.analyses.call_chains",
                        ["depth_by_entry", "depth_histogram", "worst_chains", "segments"]),
        "lag": ("dashboard.analyses.lag", ["trace_lag", "trace_lag_summary", "offset_lag_latest", "time_lag_latest"]),
        "consumer status": ("dashboard.analyses.burrow", ["group_statuses"]),
        "sync coupling": ("dashboard.analyses.sync_coupling", []),
        "redeliveries": ("dashboard.analyses.redeliveries",
                         ["redeliveries", "redelivery_rate", "duplicate_publications"]),
        "dead letters": ("dashboard.analyses.dead_letters", ["summary", "over_time"]),
        "idempotency": ("dashboard.analyses.idempotency", None),
        "event design": ("dashboard.analyses.event_design", None),
        "topology": ("dashboard.analyses.topology_diff", []),
    }
    for page, (module_name, names) in wanted.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if names is None:  # every public function shaped (con, window, ...)
            names = [n for n, f in inspect.getmembers(module, inspect.isfunction)
                     if f.__module__ == module_name and not n.startswith("_") and _takes_window(f)]
        pages[page] = [(n, getattr(module, n)) for n in names if hasattr(module, n)]
        if rules := _rules_reading(module_name):  # the page's rules, as the engine runs them
            pages[page].append(("findings", _findings_of(rules)))
    return pages


def _rules_reading(module_name: str) -> list[Any]:
    """The registered rules whose module reads the analysis `module_name` (by what it imports)."""
    import sys

    from dashboard.findings import registry

    return [r for r in registry.rules()
            if module_name in {getattr(v, "__module__", None) for v in vars(sys.modules[r.find.__module__]).values()}]


def _findings_of(rules: list[Any]) -> Callable[..., Any]:
    def findings(con: Any, window: Window, topology: Any = None) -> list[Any]:
        from dashboard.findings import registry

        with registry.one_run():  # shared queries once, as in the engine
            return [f for r in rules for f in r.findings(con, window, topology)]
    return findings


def fresh_store(folder: Path, name: str) -> Store:
    """A new store file ``name`` in ``folder`` (one left by an earlier run is removed), for bulk loading."""
    db = folder / name
    if db.exists():
        db.unlink()
    return Store(db, checkpoint_threshold="1GB")


def verdict(seconds: float) -> str:
    """One measurement against the target."""
    return "ok" if seconds < TARGET_S else "SLOW"


def against(seconds: float, window: str) -> str:
    """One page query against its window's target: the target, the ratio and the verdict."""
    target = TARGETS_S[window]
    return f"{target * 1000:>7.0f} ms{seconds / target:>7.2f}{'ok' if seconds < target else 'SLOW':>6}"


def slowest(worst: float, what: str) -> str:
    """The report's last line: the slowest of the measurements (each a ``what``) against the target."""
    return (f"slowest {what} {worst:.3f} s: {f'every {what} under' if worst < TARGET_S else 'OVER'} "
            f"the {TARGET_S:.0f} s target ({worst / TARGET_S:.2f} of it)")


def _takes_window(fn: Callable[..., Any]) -> bool:
    params = list(inspect.signature(fn).parameters.values())
    return (len(params) >= 2 and params[1].name == "window"
            and all(p.default is not inspect.Parameter.empty for p in params[2:]))


def _time(fn: Callable[[], Any], repeat: int = 2) -> float:
    """Best of `repeat` runs (the first warms DuckDB's caches as a page's first load would not)."""
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure(store: Store, pages: list[str] | None = None) -> Iterator[tuple[str, str, str, float]]:
    """(page, query, window, seconds) for every page query over the last hour and all history."""
    from dashboard.analyses.call_chains import trace_chain
    from dashboard.analyses.declared import declared_topology

    cur = store.cursor()
    everything = Window.everything(cur)
    windows = {"1 h": Window(everything.end - timedelta(hours=1), everything.end), "all": everything}
    topology = declared_topology(cur)
    for page, queries in _page_queries().items():
        if pages and page not in pages:
            continue
        for name, fn in queries:
            for label, window in windows.items():
                def call(fn: Callable[..., Any] = fn, window: Window = window, name: str = name) -> Any:
                    if name == "findings":
                        return fn(cur, window, topology)
                    return fn(cur, window)
                yield page, name, label, _time(call)
    deepest = cur.execute("SELECT trace_id FROM trace_facts ORDER BY max_depth DESC, trace_id LIMIT 1").fetchone()
    if deepest and (not pages or "call chains" in pages):
        yield "call chains", "trace_chain (one trace)", "-", _time(lambda: trace_chain(cur, deepest[0]))


PAGES = ("call chains", "lag", "consumer status", "sync coupling", "redeliveries", "dead letters", "idempotency",
         "event design", "topology")


def run(*, sizes: list[int], pages: list[str] | None = None, keep: Path | None = None) -> Iterator[str]:
    """Generate, derive and measure each size; yields the lines of the report."""
    with tempfile.TemporaryDirectory(prefix="seamwatch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        template = _template(tmp)
        for size in sizes:
            with fresh_store(keep or tmp, f"bench-{size}.duckdb") as store:
                t = time.perf_counter()
                counts = generate(store, spans=size, template=template)
                gen_s = time.perf_counter() - t
                t = time.perf_counter()
                with tqdm(unit=" traces", desc="deriving", leave=False, disable=None) as bar:
                    derived = derive_all(store, progress=bar.update)
                derive_s = time.perf_counter() - t
                yield (f"== {counts['spans']:,} spans, {counts['records']:,} records, "
                       f"{counts['group_offsets']:,} offset polls: generated in {gen_s:.1f} s; derived "
                       f"{derived.traces:,} traces ({derived.segments:,} segments, {derived.messages:,} messages) "
                       f"in {derive_s:.1f} s ({derived.traces / max(derive_s, 1e-9):,.0f} traces/s)")
                yield f"{'page':<16}{'query':<28}{'window':>7}{'seconds':>10}{'target':>11}{'ratio':>7}{'':>6}"
                worst: dict[str, tuple[float, str]] = {}
                for page, query, label, seconds in measure(store, pages):
                    window = "all" if label == "-" else label
                    if seconds / TARGETS_S[label] > worst.get(window, (0.0, ""))[0]:
                        worst[window] = (seconds / TARGETS_S[label], f"{page}: {query}")
                    yield f"{page:<16}{query:<28}{label:>7}{seconds:>10.3f}{against(seconds, label)}"
                for window, (ratio, what) in sorted(worst.items()):
                    verdict_ = "every query under" if ratio < 1 else "OVER"
                    yield (f"{window:>3} window: worst {what} at {ratio:.2f} of its "
                           f"{TARGETS_S[window] * 1000:.0f} ms target ({verdict_} the target)")
                yield load_average()

