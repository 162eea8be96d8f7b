"""The declared topology as the store holds it (topology_* tables, migration 002).

Rules take a `collectors.topology.Topology`; `seamwatch findings --db` and the
dashboard have no YAML file at hand, only the store, so this rebuilds one from the tables.
A store that never loaded a topology gives None, and rules then judge the data alone.
"""

from __future__ import annotations

import duckdb

from collectors.topology import DEFAULT_LIMITS, Endpoint, Group, Service, SyncEdge, Topic, Topology


def declared_topology(con: duckdb.DuckDBPyConnection) -> Topology | None:
    """The declaration loaded into the store, or None when there is none."""
    try:
        services = con.execute("SELECT name, description, side_effect FROM topology_services ORDER BY name").fetchall()
        topics = con.execute(
            "SELECT name, producer, event_types, schema_version, partitions, envelope, dead_letter, dead_letter_of "
            "FROM topology_topics ORDER BY name").fetchall()
        groups = _groups(con)
        endpoints = con.execute("SELECT service, method, route FROM topology_endpoints").fetchall()
        edges = con.execute("SELECT caller, callee, method, route FROM topology_sync_edges").fetchall()
        limits = con.execute("SELECT name, value FROM topology_limits").fetchall()
    except duckdb.CatalogException:  # a store from before migration 002
        return None
    if not (services or topics or groups):
        return None
    eps: dict[str, list[Endpoint]] = {}
    for service, method, route in endpoints:
        eps.setdefault(service, []).append(Endpoint(method, route))
    return Topology(
        name="declared",
        services={n: Service(n, d or "", bool(se), tuple(eps.get(n, ()))) for n, d, se in services},
        topics={n: Topic(n, p, tuple(et or ()), sv, int(parts or 1), env, bool(dl), dlo)
                for n, p, et, sv, parts, env, dl, dlo in topics},
        groups={n: Group(n, s, tuple(ts or ()), idem, slo, None if ml is None else int(ml), mt)
                for n, s, ts, idem, slo, ml, mt in groups},
        sync_edges=tuple(SyncEdge(c, e, m, r) for c, e, m, r in edges),
        limits={**DEFAULT_LIMITS, **{n: v for n, v in limits}},
    )


def _groups(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    try:
        return con.execute(
            "SELECT name, service, topics, idempotent, lag_slo_seconds, max_lag_messages, max_time_lag_s "
            "FROM topology_groups ORDER BY name").fetchall()
    except duckdb.BinderException:  # a store from before migration 009, opened read-only: no declared limits
        return [(*r, None, None) for r in con.execute(
            "SELECT name, service, topics, idempotent, lag_slo_seconds FROM topology_groups ORDER BY name").fetchall()]
