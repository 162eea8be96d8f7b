"""Small reads the pages need besides the analyses: table counts and data freshness.

SQL lives here, never in pages; every value is bound.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from dashboard.analyses.window import Window

# The tables a user recognises, in the order the Overview lists them.
CORE_TABLES = ("spans", "records", "group_offsets", "topic_offsets", "ingest_errors")

_FRESHNESS = """
SELECT 'traces' AS kind, coalesce(source, '?') AS source, count(*) AS rows,
       max(end_time) AS newest, max(ingested_at) AS received
FROM spans GROUP BY ALL
UNION ALL
SELECT 'Kafka records', coalesce(source, cluster), count(*), max("timestamp"), max(tapped_at)
FROM records GROUP BY ALL
UNION ALL
SELECT 'offset snapshots', cluster, count(*), max(polled_at), max(polled_at)
FROM group_offsets GROUP BY ALL
UNION ALL
SELECT 'ingest errors', coalesce(source, '?'), count(*), max("at"), max("at")
FROM ingest_errors GROUP BY ALL
ORDER BY 1, 2
"""

_WINDOW_COUNTS = """
SELECT
  (SELECT count(*) FROM spans WHERE start_time >= ? AND start_time < ?) AS spans,
  (SELECT count(DISTINCT trace_id) FROM spans WHERE start_time >= ? AND start_time < ?) AS traces,
  (SELECT count(*) FROM records WHERE "timestamp" >= ? AND "timestamp" < ?) AS records,
  (SELECT count(*) FROM records WHERE is_dead_letter AND "timestamp" >= ? AND "timestamp" < ?) AS dead_letters,
  (SELECT count(DISTINCT service) FROM spans WHERE start_time >= ? AND start_time < ?) AS services,
  (SELECT count(*) FROM ingest_errors WHERE "at" >= ? AND "at" < ?) AS ingest_errors
"""


def utcnow() -> datetime:
    """Now in UTC, naive, as the store keeps timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def table_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows per core table (all time): columns table, rows."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()}
    rows = []
    for name in CORE_TABLES:
        if name in present:
            # Catalog names from CORE_TABLES only, never from input.
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]  # noqa: S608
            rows.append((name, int(n)))
    return pd.DataFrame(rows, columns=["table", "rows"])


def freshness(con: duckdb.DuckDBPyConnection, *, now: datetime | None = None) -> pd.DataFrame:
    """Newest item per source: kind, source, rows, newest (event time), received, age_s.

    ``age_s`` is how long ago the newest item happened; it is what tells a user at a
    glance whether a collector stopped.
    """
    df = con.execute(_FRESHNESS).df()
    now = now or utcnow()
    df["age_s"] = (now - pd.to_datetime(df["newest"])).dt.total_seconds()
    return df


INGEST_ERRORS_SHOWN = 200


def ingest_errors(con: duckdb.DuckDBPyConnection, *, limit: int = INGEST_ERRORS_SHOWN) -> tuple[pd.DataFrame, int]:
    """The newest ingest errors (what a collector or an import could not store or read, and why):
    at, source, location, reason; and how many the store holds in all."""
    total = int(con.execute("SELECT count(*) FROM ingest_errors").fetchone()[0])
    df = con.execute('SELECT "at", source, location, reason FROM ingest_errors ORDER BY "at" DESC NULLS LAST, '
                     "location LIMIT ?", [limit]).df()
    return df, total


def window_counts(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, int]:
    """Headline volumes inside the window."""
    params = window.params * 6
    row = con.execute(_WINDOW_COUNTS, params).fetchone()
    names = ("spans", "traces", "records", "dead_letters", "services", "ingest_errors")
    return {k: int(v or 0) for k, v in zip(names, row, strict=True)}


def data_span(con: duckdb.DuckDBPyConnection) -> Window | None:
    """Oldest to newest item in the store, or None when it holds nothing yet."""
    return Window.extent(con)


def has_data(con: duckdb.DuckDBPyConnection, window: Window) -> bool:
    """Whether anything at all happened inside the window (spans, records or snapshots)."""
    row = con.execute(
        """
        SELECT EXISTS (SELECT 1 FROM spans WHERE start_time >= ? AND start_time < ?)
            OR EXISTS (SELECT 1 FROM records WHERE "timestamp" >= ? AND "timestamp" < ?)
            OR EXISTS (SELECT 1 FROM group_offsets WHERE polled_at >= ? AND polled_at < ?)
        """,
        window.params * 3,
    ).fetchone()
    return bool(row and row[0])


def declared_services(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The declared services' names, sorted (none when no topology was loaded)."""
    return [r[0] for r in con.execute("SELECT name FROM topology_services ORDER BY name").fetchall()]


def declared_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The declared topology tables (empty frames when no topology was loaded)."""
    return {
        "services": con.execute("SELECT name, description, side_effect FROM topology_services ORDER BY name").df(),
        "topics": con.execute(
            "SELECT name, producer, event_types, dead_letter, dead_letter_of FROM topology_topics ORDER BY name"
        ).df(),
        "groups": con.execute("SELECT name, service, topics, idempotent, lag_slo_seconds FROM topology_groups ORDER BY name").df(),
        "sync_edges": con.execute(
            "SELECT DISTINCT caller, callee FROM topology_sync_edges ORDER BY caller, callee"
        ).df(),
    }


def volumes(con: duckdb.DuckDBPyConnection, window: Window) -> dict[str, pd.DataFrame]:
    """What was seen in the window per service (spans), topic (records) and group (processings)."""
    p = window.params
    return {
        "services": con.execute(
            "SELECT service AS name, count(*) AS n FROM spans WHERE start_time >= ? AND start_time < ? "
            "GROUP BY ALL", p).df(),
        "topics": con.execute(
            'SELECT topic AS name, count(*) AS n FROM records WHERE "timestamp" >= ? AND "timestamp" < ? '
            "GROUP BY ALL", p).df(),
        "groups": con.execute(
            "SELECT consumer_group AS name, count(*) AS n FROM spans WHERE start_time >= ? AND start_time < ? "
            "AND consumer_group IS NOT NULL AND kind = 5 GROUP BY ALL", p).df(),
    }
