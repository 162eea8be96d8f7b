"""Observed topology vs declared (docs/architecture.md#the-declared-topology): UNDECLARED_EDGE and UNOBSERVED_EDGE.

Observed edges, with the same shapes the declaration has:
- ``sync`` service → service: the hops collectors.derive found (docs/architecture.md#synchronous-call-chain-depth: a SERVER
  span under a CLIENT span of another service), and leaf calls (CLIENT spans no SERVER
  answered) whose peer.service names a known service; read from segment_edges, so only
  derived traces count. The diff compares calls endpoint by endpoint (the SERVER span's method and
  route), as the topology declares `calls: [orders-api POST /orders]`;
- ``async`` service → topic: PRODUCER (or messaging send) spans by destination;
- ``async`` topic → group: CONSUMER spans by destination and group, and group_offsets;
- ``async`` group → service: which service runs a group's consumers (drawn, not diffed:
  membership is not communication).

A declared producer edge also counts as observed when the topic has records in the window
but no producer span at all says who wrote them (an uninstrumented producer such as Kafka
Connect); likewise a consume edge seen only in group_offsets. Edges of a Kafka Streams
application's internal topics (dashboard/analyses/streams_internal.py) are not diffed unless
the topology declares those topics.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses import streams_internal
from dashboard.analyses.window import Window

EDGE_COLUMNS = ["src_kind", "src", "dst_kind", "dst", "kind", "volume", "first_seen", "last_seen", "via"]

# Services that answered a hop in the window, or that the topology declares: a leaf call to one of
# them is a call to a known service.
_KNOWN = r"""
WITH known AS (
    SELECT DISTINCT from_service AS name FROM segment_edges
    WHERE edge = 'hop' AND start_time >= $start AND start_time < $end
    UNION SELECT DISTINCT to_service FROM segment_edges
    WHERE edge = 'hop' AND start_time >= $start AND start_time < $end
    UNION SELECT name FROM topology_services
),
"""

# Sync calls come from collectors.derive's segment_edges (hops, and leaf calls that no SERVER
# span answered), so no page load self-joins the spans; the rest are filtered aggregates.
_OBSERVED = _KNOWN + r"""
sync_calls AS (
    SELECT 'service' AS src_kind, from_service AS src, 'service' AS dst_kind, to_service AS dst, 'sync' AS kind,
           count(*) AS volume, min(start_time) AS first_seen, max(start_time) AS last_seen,
           CASE WHEN edge = 'hop' THEN 'spans' ELSE 'peer.service' END AS via
    FROM segment_edges
    WHERE start_time >= $start AND start_time < $end AND from_service <> to_service
      AND (edge = 'hop' OR (edge = 'leaf' AND to_service IN (SELECT name FROM known)))
    GROUP BY ALL
),
produce AS (
    SELECT 'service', service, 'topic', destination, 'async', count(*), min(start_time), max(start_time), 'spans'
    FROM spans
    WHERE start_time >= $start AND start_time < $end AND destination IS NOT NULL
      AND (kind = 4 OR (kind IN (0, 1, 3) AND messaging_system IS NOT NULL AND operation_type IN ('send', 'create')))
    GROUP BY ALL
),
consume AS (
    SELECT 'topic', destination, CASE WHEN consumer_group IS NULL THEN 'service' ELSE 'group' END,
           coalesce(consumer_group, service), 'async', count(*), min(start_time), max(start_time), 'spans'
    FROM spans
    WHERE start_time >= $start AND start_time < $end AND kind = 5 AND destination IS NOT NULL
      AND coalesce(operation_type, 'process') <> 'settle'
    GROUP BY ALL
),
polled AS (
    -- what the group committed in the window: each partition's advance, summed (partitions
    -- sit at different offsets, so one max - min over all of them is no volume)
    SELECT 'topic', topic, 'group', group_id, 'async', coalesce(sum(moved), 0), min(first_poll), max(last_poll),
           'group_offsets'
    FROM (SELECT cluster, topic, group_id, "partition", max(committed_offset) - min(committed_offset) AS moved,
                 min(polled_at) AS first_poll, max(polled_at) AS last_poll
          FROM group_offsets
          WHERE polled_at >= $start AND polled_at < $end
          GROUP BY ALL)
    GROUP BY topic, group_id
),
members AS (
    SELECT 'group', consumer_group, 'service', service, 'async', count(*), min(start_time), max(start_time), 'spans'
    FROM spans
    WHERE start_time >= $start AND start_time < $end AND kind = 5 AND consumer_group IS NOT NULL
    GROUP BY ALL
)
SELECT * FROM sync_calls
UNION ALL SELECT * FROM produce
UNION ALL SELECT * FROM consume
UNION ALL SELECT * FROM polled
UNION ALL SELECT * FROM members
"""  # noqa: S608 (constant SQL joined from constants; values are bound)

_RECORD_TOPICS = r"""
SELECT topic, count(*) AS records, min(coalesce("timestamp", tapped_at)) AS first_seen,
       max(coalesce("timestamp", tapped_at)) AS last_seen
FROM records
WHERE coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
GROUP BY ALL
"""


def observed_graph(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Edges seen in the window: src_kind, src, dst_kind, dst, kind (sync|async), volume,
    first_seen, last_seen, via (spans | peer.service | group_offsets). Spans and offset
    polls seeing the same edge are merged into one row, with the larger volume."""
    p = {"start": window.start, "end": window.end}
    df = con.execute(_OBSERVED, p).df()
    df.columns = EDGE_COLUMNS
    if df.empty:
        return df
    return (
        df.groupby(["src_kind", "src", "dst_kind", "dst", "kind"], as_index=False, sort=True)
        .agg(volume=("volume", "max"), first_seen=("first_seen", "min"), last_seen=("last_seen", "max"),
             via=("via", lambda s: ",".join(sorted(set(s)))))
    )[EDGE_COLUMNS]


_CALLS = _KNOWN + r"""
calls AS (
    SELECT from_service AS caller, to_service AS callee, edge,
           -- a hop's operation is "METHOD /route" when the SERVER span named its route
           CASE WHEN regexp_matches(operation, '^[A-Za-z]+ /') THEN upper(split_part(operation, ' ', 1))
                WHEN edge = 'leaf' AND regexp_matches(operation, '^[A-Za-z]+$') THEN upper(operation) END AS method,
           CASE WHEN regexp_matches(operation, '^[A-Za-z]+ /') THEN substr(operation, strpos(operation, ' ') + 1)
                END AS route,
           start_time
    FROM segment_edges
    WHERE start_time >= $start AND start_time < $end AND from_service <> to_service
      AND (edge = 'hop' OR (edge = 'leaf' AND to_service IN (SELECT name FROM known)))
)
SELECT caller, callee, method, route, count(*) AS volume, min(start_time) AS first_seen,
       max(start_time) AS last_seen, CASE WHEN edge = 'hop' THEN 'spans' ELSE 'peer.service' END AS via
FROM calls
GROUP BY ALL
ORDER BY caller, callee, method, route
"""  # noqa: S608 (constant SQL joined from constants; values are bound)


def observed_calls(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Synchronous calls by endpoint: caller, callee, method, route (the callee's SERVER span;
    NULL for calls seen only from the client side), volume, first_seen, last_seen, via."""
    return con.execute(_CALLS, {"start": window.start, "end": window.end}).df()


def record_topics(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Topics the tap saw records on in the window, with counts (topic nodes without spans)."""
    return con.execute(_RECORD_TOPICS, {"start": window.start, "end": window.end}).df()


def declared_graph(topology: Any) -> pd.DataFrame:
    """The declared async edges that are diffed: producers and group subscriptions."""
    rows = {("service", t.producer, "topic", t.name, "async") for t in topology.topics.values() if t.producer}
    rows |= {("topic", t, "group", g.name, "async") for g in topology.groups.values() for t in g.topics}
    return pd.DataFrame(sorted(rows), columns=["src_kind", "src", "dst_kind", "dst", "kind"])


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _sync_diff(calls: pd.DataFrame, topology: Any) -> list[dict[str, Any]]:
    """Calls against declared sync edges, endpoint by endpoint. A call seen only from the
    client side (no route) matches any declared endpoint of that pair and method."""
    declared = {(e.caller, e.callee, e.method, e.route) for e in topology.sync_edges}
    rows, matched = [], set()
    for r in calls.itertuples(index=False):
        method, route = _none(r.method), _none(r.route)
        hits = {d for d in declared if d[:2] == (r.caller, r.callee)
                and (method is None or d[2] == method) and (route is None or d[3] == route)}
        matched |= hits
        rows.append({"src_kind": "service", "src": r.caller, "dst_kind": "service", "dst": r.callee, "kind": "sync",
                     "method": method, "route": route, "volume": int(r.volume), "first_seen": r.first_seen,
                     "last_seen": r.last_seen, "via": r.via, "declared": bool(hits), "observed": True})
    for caller, callee, method, route in sorted(declared - matched):
        rows.append({"src_kind": "service", "src": caller, "dst_kind": "service", "dst": callee, "kind": "sync",
                     "method": method, "route": route, "volume": 0, "first_seen": None, "last_seen": None,
                     "via": None, "declared": True, "observed": False})
    return rows


def diff(con: duckdb.DuckDBPyConnection, window: Window, topology: Any) -> pd.DataFrame:
    """Every edge with status 'declared' (both), 'undeclared' or 'unobserved'; sync edges per
    endpoint (method, route), async edges per producer → topic and topic → group."""
    key = ["src_kind", "src", "dst_kind", "dst", "kind"]
    obs = observed_graph(con, window)
    obs = obs[(obs["kind"] == "async") & ~((obs["src_kind"] == "group") & (obs["dst_kind"] == "service"))]
    dec = declared_graph(topology)
    # a Kafka Streams application's own topics are the library's, not the design's: undeclared,
    # they are no undeclared edge (declared, they are compared like any other)
    topics = set(obs.loc[obs["src_kind"] == "topic", "src"]) | set(obs.loc[obs["dst_kind"] == "topic", "dst"])
    internal = streams_internal.apps(con, topics, window).keys() - set(dec["src"]) - set(dec["dst"])
    obs = obs[~((obs["src_kind"] == "topic") & obs["src"].isin(internal))
              & ~((obs["dst_kind"] == "topic") & obs["dst"].isin(internal))]
    merged = dec.assign(declared=True).merge(obs.assign(observed=True), on=key, how="outer")
    merged["declared"] = merged["declared"].fillna(False).astype(bool)
    merged["observed"] = merged["observed"].fillna(False).astype(bool)
    merged["volume"] = merged["volume"].fillna(0)
    merged["method"] = None
    merged["route"] = None
    # a producer nobody traced: the topic's records are the observation
    produced_by_span = set(obs.loc[(obs["src_kind"] == "service") & (obs["dst_kind"] == "topic"), "dst"])
    seen = record_topics(con, window).set_index("topic")
    for i, r in merged.iterrows():
        if r.declared and not r.observed and r.src_kind == "service" and r.dst_kind == "topic" \
                and r.dst in seen.index and r.dst not in produced_by_span:
            merged.loc[i, ["observed", "via"]] = [True, "records"]
            merged.loc[i, "volume"] = seen.loc[r.dst, "records"]
            merged.loc[i, "first_seen"] = seen.loc[r.dst, "first_seen"]
            merged.loc[i, "last_seen"] = seen.loc[r.dst, "last_seen"]
    out = pd.concat([pd.DataFrame(_sync_diff(observed_calls(con, window), topology)), merged], ignore_index=True)
    out["status"] = [
        "declared" if d and o else ("undeclared" if o else "unobserved")
        for d, o in zip(out["declared"], out["observed"], strict=True)
    ]
    return out.sort_values([*key, "method", "route"], na_position="first").reset_index(drop=True)


def edge_subject(r: Any) -> str:
    """'caller -> callee METHOD /route' for calls, 'src -> dst' for event flows."""
    endpoint = " ".join(x for x in (_none(getattr(r, "method", None)), _none(getattr(r, "route", None))) if x)
    return f"{r.src} -> {r.dst}" + (f" {endpoint}" if endpoint else "")


def edge_evidence(r: Any) -> dict[str, Any]:
    """What a drift finding names of its edge, for drilling in."""
    return {"src_kind": r.src_kind, "src": r.src, "dst_kind": r.dst_kind, "dst": r.dst, "kind": r.kind,
            "method": _none(r.method), "route": _none(r.route)}
