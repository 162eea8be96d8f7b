"""Assemble the topology graph the Overview draws: declared + observed + findings.

Pure pandas over what the read functions and analyses return; no SQL, no Streamlit.
Node ids are "<kind>:<name>" so a service and a topic may share a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from dashboard.findings.model import severity_rank

NODE_COLUMNS = ["id", "kind", "name", "detail", "severity", "declared", "observed", "near"]
EDGE_COLUMNS = ["src", "dst", "kind", "volume", "severity", "declared", "observed", "per_min", "p95_ms"]
_ARROW = re.compile(r"\s*(?:→|->|=>)\s*")


def nid(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _worse(a: str | None, b: str | None) -> str | None:
    if not a:
        return b
    if not b:
        return a
    return a if severity_rank(a) >= severity_rank(b) else b


def declared_edges(topo: dict[str, pd.DataFrame]) -> list[tuple[str, str, str]]:
    """(src id, dst id, sync|async) for every declared edge."""
    out = [(nid("service", r.caller), nid("service", r.callee), "sync") for r in topo["sync_edges"].itertuples()]
    for r in topo["topics"].itertuples():
        if isinstance(r.producer, str) and r.producer:  # NULL arrives as NaN
            out.append((nid("service", r.producer), nid("topic", r.name), "async"))
    for r in topo["groups"].itertuples():
        for t in (r.topics if r.topics is not None else []):
            out.append((nid("topic", t), nid("group", r.name), "async"))
        if isinstance(r.service, str) and r.service:
            out.append((nid("group", r.name), nid("service", r.service), "async"))
    return out


def _subject_ids(f: Any) -> list[str]:
    """Graph elements a finding is about: its subject, else the names its evidence gives."""
    kind, subject = f.subject_kind, str(f.subject)
    if kind in ("service", "topic", "group"):
        return [nid(kind, subject)]
    ev = f.evidence or {}
    if kind == "edge":
        src, dst = ev.get("src") or ev.get("caller"), ev.get("dst") or ev.get("callee")
        if not (src and dst):  # "a -> b GET /route": the names are the first word on each side
            parts = _ARROW.split(subject, maxsplit=1)
            if len(parts) != 2:
                return []
            src, dst = parts[0].split()[0], parts[1].split()[0]
        return [f"edge:{src}|{dst}"]
    found = [nid(k, str(ev[k])) for k in ("service", "topic", "group") if ev.get(k)]
    if kind == "endpoint" and not found:
        found = [nid("service", subject.split()[0])]
    return found


def findings_of(findings: Iterable[Any], node_id: str) -> list[Any]:
    """The findings about one node of the graph, in the order given (worst first)."""
    return [f for f in findings if node_id in _subject_ids(f)]


def severities(findings: Iterable[Any]) -> dict[str, str]:
    """Worst severity per node id, and per edge as 'edge:<src name>|<dst name>'."""
    worst: dict[str, str] = {}
    for f in findings:
        for key in _subject_ids(f):
            worst[key] = _worse(worst.get(key), f.severity) or f.severity
    return worst


def build(topo: dict[str, pd.DataFrame], observed: pd.DataFrame | None, volumes: dict[str, pd.DataFrame],
          findings: Iterable[Any] = (), sync_stats: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and edges for charts.topology.topology_figure.

    ``observed`` has columns src_kind, src, dst_kind, dst, kind (sync|async), volume; None
    or empty when nothing was observed. Without a declared topology the observed graph is
    drawn alone (everything is then "observed, not declared" — but not flagged as such).
    ``nodes.attrs["hidden"]`` counts, per kind, the undeclared elements left out as idle.
    ``sync_stats`` (caller, callee, per_min, p95_ms; analyses.service_graph) puts a rate and a
    p95 on the sync edges; a dead-letter topic's ``near`` is the topic it serves.
    """
    has_declaration = not topo["services"].empty or not topo["topics"].empty
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for s, d, k in declared_edges(topo):
        edges[(s, d)] = dict(src=s, dst=d, kind=k, volume=0, declared=True, observed=False)
    if observed is not None:
        for r in observed.itertuples():
            if pd.isna(r.src) or pd.isna(r.dst):  # an end the data does not name cannot be drawn
                continue
            s, d = nid(r.src_kind, r.src), nid(r.dst_kind, r.dst)
            e = edges.setdefault((s, d), dict(src=s, dst=d, kind=r.kind, volume=0,
                                              declared=not has_declaration, observed=True))
            e["observed"] = True
            e["volume"] += int(r.volume or 0)
    vol = {nid(k.rstrip("s"), r.name): int(r.n) for k, df in volumes.items() for r in df.itertuples()}
    for e in edges.values():
        # A producer nobody traced (Kafka Connect, a script): the topic's records are the observation.
        if e["declared"] and not e["observed"] and e["dst"].startswith("topic:") and vol.get(e["dst"]):
            e["observed"], e["volume"] = True, vol[e["dst"]]
    names: dict[str, tuple[str, str]] = {}
    declared_nodes = set()
    for kind, df in (("service", topo["services"]), ("topic", topo["topics"]), ("group", topo["groups"])):
        for name in df["name"]:
            names[nid(kind, name)] = (kind, name)
            declared_nodes.add(nid(kind, name))
    for s, d in edges:
        for i in (s, d):
            names.setdefault(i, tuple(i.split(":", 1)))
    for i, n in vol.items():  # seen but on no edge (a lone service, an undeclared topic): drawn too
        if n and i not in names:
            names[i] = tuple(i.split(":", 1))
    worst = severities(findings)
    # What the cluster holds but the declaration does not name, idle in this window and with no
    # finding of its own (old consumer groups, test topics), is counted, not drawn: a live
    # cluster has dozens of them and they would bury the system being watched.
    active = {i for e in edges.values() if e["volume"] for i in (e["src"], e["dst"])}
    idle = {i for i in names if i not in declared_nodes and not vol.get(i) and i not in active and i not in worst}
    hidden = {k: sum(names[i][0] == k for i in idle) for k in ("service", "topic", "group")}
    names = {i: v for i, v in names.items() if i not in idle}
    edges = {k: e for k, e in edges.items() if e["src"] not in idle and e["dst"] not in idle}
    unit = {"service": "spans", "topic": "records", "group": "processed"}
    none = {"service": "no spans", "topic": "no records", "group": "nothing processed"}
    serves = {}
    if "dead_letter_of" in topo["topics"].columns:
        serves = {nid("topic", r.name): nid("topic", r.dead_letter_of) for r in topo["topics"].itertuples()
                  if isinstance(r.dead_letter_of, str) and r.dead_letter_of}
    nodes = []
    for i, (kind, name) in sorted(names.items()):
        n = vol.get(i, 0)
        seen = n > 0 or any(e["observed"] and i in (e["src"], e["dst"]) for e in edges.values())
        # '1 record', '1 span': the unit is a noun for services and topics ('processed' is not)
        words = unit[kind][:-1] if n == 1 and kind != "group" else unit[kind]
        detail = f"{n:,} {words}" if n else (none[kind] if has_declaration else "")
        nodes.append(dict(id=i, kind=kind, name=name, detail=detail, severity=worst.get(i),
                          declared=(i in declared_nodes) or not has_declaration, observed=seen or not has_declaration,
                          near=serves.get(i) if serves.get(i) in names else None))
    stats = {}
    if sync_stats is not None:
        stats = {(nid("service", r.caller), nid("service", r.callee)): (float(r.per_min), r.p95_ms)
                 for r in sync_stats.itertuples()}
    out_edges = []
    for e in edges.values():
        key = f"edge:{names[e['src']][1]}|{names[e['dst']][1]}"
        per_min, p95 = stats.get((e["src"], e["dst"]), (None, None)) if e["kind"] == "sync" else (None, None)
        out_edges.append({**e, "severity": worst.get(key), "per_min": per_min, "p95_ms": p95})
    out = pd.DataFrame(nodes, columns=NODE_COLUMNS)
    out.attrs["hidden"] = {k: n for k, n in hidden.items() if n}  # kind → idle, undeclared, not drawn
    return out, pd.DataFrame(out_edges, columns=EDGE_COLUMNS)


def ranked(nodes: pd.DataFrame, edges: pd.DataFrame) -> list[str]:
    """The node ids, the worst open finding first, then the busiest (volume on their edges)."""
    rank = _ranks(nodes, edges)
    return sorted(rank, key=rank.__getitem__)


def _ranks(nodes: pd.DataFrame, edges: pd.DataFrame) -> dict[str, tuple[int, int, str]]:
    weight = dict.fromkeys(nodes["id"], 0)
    for e in edges.itertuples():
        for i in (e.src, e.dst):
            weight[i] = weight.get(i, 0) + int(e.volume or 0)
    return {i: (-severity_rank(s) if isinstance(s, str) and s else 0, -weight[i], i)
            for i, s in zip(nodes["id"], nodes["severity"], strict=True)}


MAX_DRAWN = 50  # nodes the Overview draws at once; past it a drawing is a wall (a cluster holds hundreds)
FOCUS_HOPS = 2


def trim(nodes: pd.DataFrame, edges: pd.DataFrame, *, limit: int = MAX_DRAWN, focus: str | None = None,
         order: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The part of the graph to draw: at most ``limit`` nodes.

    With ``focus`` (a node id): that node and what it calls, feeds or reads, up to FOCUS_HOPS
    steps out either way, nearest first. Otherwise, when the graph is larger than ``limit``: the
    nodes with the worst open findings, then the busiest (volume on their edges), each with its
    neighbours. Edges between drawn nodes are kept. ``nodes.attrs["left_out"]`` counts, per kind, the nodes not drawn;
    ``attrs["hidden"]`` (idle nodes, see build) is kept. ``order`` is :func:`ranked`'s, when the
    caller has it already.
    """
    ids = list(nodes["id"])
    if focus not in ids and len(ids) <= limit:
        nodes.attrs.setdefault("left_out", {})
        return nodes, edges
    if order is None:
        order = ranked(nodes, edges)
    rank = {i: n for n, i in enumerate(order)}
    near: dict[str, set[str]] = {i: set() for i in ids}
    for e in edges.itertuples():
        if e.src in near and e.dst in near:
            near[e.src].add(e.dst)
            near[e.dst].add(e.src)
    if focus in ids:
        keep, ring = [focus], [focus]
        for _ in range(FOCUS_HOPS):
            ring = sorted({j for i in ring for j in near[i]} - set(keep), key=rank.__getitem__)
            keep += ring
    else:
        # each of the worst and busiest with its neighbours, so that what is drawn is connected
        # (the worst nodes alone, a topic here and a group there, would be a column of boxes)
        keep = []
        for seed in order:
            if len(keep) >= limit:
                break
            if seed not in keep:
                keep += [seed, *sorted(near[seed] - set(keep), key=rank.__getitem__)]
    kept = set(keep[:limit])
    out = nodes[nodes["id"].isin(kept)].reset_index(drop=True)
    out.attrs = {**nodes.attrs, "left_out": {k: int(n) for k, n in nodes[~nodes["id"].isin(kept)]["kind"]
                                             .value_counts().items()}}
    return out, edges[edges["src"].isin(kept) & edges["dst"].isin(kept)].reset_index(drop=True)
