"""One Kafka cluster at a time: a cursor on which the Kafka tables hold only the chosen cluster.

A store may hold several clusters (``--cluster`` names each tap and import). Every page must
then show one of them, and every analysis reads ``records``, ``group_offsets`` and the
rest by their plain names; so instead of a filter in each of dozens of queries, a scoped
cursor gets temporary views of the same names that keep only the chosen cluster's rows.
DuckDB resolves a plain name to the connection's temporary objects first, and the view's
filter reads a session variable, which is bound, never spliced, and which DuckDB pushes into
the scan (zone maps still prune). Spans carry no cluster: traces are shown whatever the
choice. SQL lives here, not in pages (docs/architecture.md#data-flow).
"""

from __future__ import annotations

import duckdb

# The tables with a cluster column, each Kafka-side: what a cluster choice narrows.
CLUSTER_TABLES = ("records", "group_offsets", "topic_offsets", "tap_positions", "consumer_status", "topic_generations")

_CLUSTERS = """
SELECT cluster FROM (
    SELECT DISTINCT cluster FROM records
    UNION SELECT DISTINCT cluster FROM group_offsets
    UNION SELECT DISTINCT cluster FROM topic_offsets
) WHERE cluster IS NOT NULL ORDER BY cluster
"""


def clusters(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every Kafka cluster the store holds data of, by name."""
    return [r[0] for r in con.execute(_CLUSTERS).fetchall()]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scoped(cur: duckdb.DuckDBPyConnection, cluster: str | None) -> duckdb.DuckDBPyConnection:
    """``cur`` with the Kafka tables narrowed to ``cluster`` (unchanged when None).

    Only for reading: the views shadow the tables on this cursor alone, and a cursor is one
    page run's (each use takes a fresh one)."""
    if cluster is None:
        return cur
    catalog = cur.execute("SELECT current_database()").fetchone()[0]
    present = {r[0] for r in cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main'",
        [catalog]).fetchall()}
    cur.execute("SET VARIABLE seamwatch_cluster = ?", [cluster])
    for table in CLUSTER_TABLES:
        if table in present:
            # Names from CLUSTER_TABLES and the catalog's own name only, quoted; the value is a variable.
            cur.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(table)} AS SELECT * FROM "  # noqa: S608
                        f"{_ident(catalog)}.main.{_ident(table)} WHERE cluster = getvariable('seamwatch_cluster')")
    return cur
