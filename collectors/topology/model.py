"""The declared topology (docs/architecture.md#the-declared-topology): YAML → validated dataclasses → topology_* tables.

The model belongs to the core, not to the demo: analyses, the CLI and migration 002 use it for
any shop's file (the sample shop's is `sample_topology.TOPOLOGY_FILE`).
`load_topology()` reads and validates eagerly: a broken file fails with one sentence that
names the place. `load_into_store()` replaces the store's declaration in one transaction.
A store that never loaded a topology simply has empty topology_* tables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from collectors.errors import ConfigError, InputError

DEFAULT_LIMITS = {"max_sync_depth": 3}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENVELOPES = frozenset({"json", "cloudevents", "avro", "protobuf", "json-schema", "none"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str

    def __str__(self) -> str:
        return f"{self.method} {self.route}"


@dataclass(frozen=True)
class SyncEdge:
    caller: str
    callee: str
    method: str
    route: str


@dataclass(frozen=True)
class Service:
    name: str
    description: str = ""
    side_effect: bool = False
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class Topic:
    name: str
    producer: str | None
    event_types: tuple[str, ...] = ()
    schema_version: str | None = None
    partitions: int = 1
    envelope: str | None = None
    dead_letter: bool = False
    dead_letter_of: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    service: str
    topics: tuple[str, ...]
    idempotent: bool | None = None
    lag_slo_seconds: float | None = None
    max_lag_messages: int | None = None  # CONSUMER_LAG when the group's offset lag exceeds it, whatever its status
    max_time_lag_seconds: float | None = None  # the same for its worst partition's time lag


@dataclass(frozen=True)
class Topology:
    name: str
    services: dict[str, Service]
    topics: dict[str, Topic]
    groups: dict[str, Group]
    sync_edges: tuple[SyncEdge, ...]
    limits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @property
    def max_sync_depth(self) -> int:
        return int(self.limits["max_sync_depth"])


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"topology {where}: {what}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"must be a mapping, not {type(value).__name__}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, "must be a list of non-empty strings")
    return [v.strip() for v in value]


def _check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(where, f"{name!r} is not a valid name (letters, digits, '.', '_', '-')")
    return name


def _entry(kind: str, name: Any, body: Any, allowed: set[str]) -> tuple[str, dict[str, Any]]:
    """One declared service, topic or group: where to blame errors, and its checked body."""
    where = f"{kind} {name!r}"
    _check_name(name, where)
    body = _mapping(body, where)
    unknown = set(body) - allowed
    if unknown:
        raise _fail(where, f"unknown field {sorted(unknown)[0]!r}")
    return where, body


def _bool(value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _fail(where, f"must be true or false, not {value!r}")


def _duration(value: Any, where: str) -> float | None:
    """'30s', '5m', '1h', '250ms' → seconds."""
    if value is None:
        return None
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m or float(m.group(1)) <= 0:
        raise _fail(where, f"must be a duration like 30s, 5m or 1h, not {value!r}")
    return float(m.group(1)) * _SECONDS[m.group(2)]


def _endpoint(text: str, where: str) -> Endpoint:
    parts = text.split()
    if len(parts) != 2 or parts[0].upper() not in METHODS or not parts[1].startswith("/"):
        raise _fail(where, f"{text!r} must read 'METHOD /route', e.g. 'POST /orders'")
    return Endpoint(parts[0].upper(), parts[1])


def _services(raw: dict[str, Any]) -> tuple[dict[str, Service], list[tuple[str, str, str]]]:
    services: dict[str, Service] = {}
    calls: list[tuple[str, str, str]] = []
    for name, body in raw.items():
        where, body = _entry("service", name, body, {"description", "side_effect", "endpoints", "calls"})
        eps = tuple(_endpoint(e, f"{where} endpoint") for e in _strings(body.get("endpoints"), f"{where} endpoints"))
        services[name] = Service(name, str(body.get("description") or ""),
                                 bool(_bool(body.get("side_effect"), f"{where} side_effect")), eps)
        calls.extend((name, c, f"{where} calls") for c in _strings(body.get("calls"), f"{where} calls"))
    return services, calls


def _edges(services: dict[str, Service], calls: list[tuple[str, str, str]]) -> tuple[SyncEdge, ...]:
    edges = []
    for caller, text, where in calls:
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise _fail(where, f"{text!r} must read 'service METHOD /route'")
        callee, ep = parts[0], _endpoint(parts[1], where)
        if callee not in services:
            raise _fail(where, f"calls {callee!r}, which is not a declared service")
        if ep not in services[callee].endpoints:
            raise _fail(where, f"calls '{ep}' on {callee}, which does not declare that endpoint")
        edges.append(SyncEdge(caller, callee, ep.method, ep.route))
    return tuple(edges)


def _topics(raw: dict[str, Any], services: dict[str, Service]) -> dict[str, Topic]:
    topics: dict[str, Topic] = {}
    for name, body in raw.items():
        where, body = _entry("topic", name, body, {"producer", "event_types", "schema_version", "partitions",
                                                   "envelope", "dead_letter", "dead_letter_of"})
        producer = body.get("producer")
        if producer is not None and producer not in services:
            raise _fail(where, f"producer {producer!r} is not a declared service")
        partitions = body.get("partitions", 1)
        if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
            raise _fail(where, f"partitions must be a positive integer, not {partitions!r}")
        envelope = body.get("envelope")
        if envelope is not None and envelope not in _ENVELOPES:
            raise _fail(where, f"envelope must be one of {sorted(_ENVELOPES)}, not {envelope!r}")
        version = body.get("schema_version")
        topics[name] = Topic(
            name=name, producer=producer,
            event_types=tuple(_strings(body.get("event_types"), f"{where} event_types")),
            schema_version=None if version is None else str(version), partitions=partitions, envelope=envelope,
            dead_letter=bool(_bool(body.get("dead_letter"), f"{where} dead_letter")),
            dead_letter_of=body.get("dead_letter_of"),
        )
    for t in topics.values():
        if t.dead_letter_of is not None and t.dead_letter_of not in topics:
            raise _fail(f"topic {t.name!r}", f"dead_letter_of {t.dead_letter_of!r} is not a declared topic")
    return topics


def _groups(raw: dict[str, Any], services: dict[str, Service], topics: dict[str, Topic]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for name, body in raw.items():
        where, body = _entry("group", name, body, {"service", "topics", "idempotent", "lag_slo_seconds",
                                                   "max_lag_messages", "max_time_lag"})
        service = body.get("service")
        if service not in services:
            raise _fail(where, f"service {service!r} is not a declared service")
        names = _strings(body.get("topics"), f"{where} topics")
        if not names:
            raise _fail(where, "must list at least one topic")
        for t in names:
            if t not in topics:
                raise _fail(where, f"consumes {t!r}, which is not a declared topic")
        slo = body.get("lag_slo_seconds")
        if slo is not None and (isinstance(slo, bool) or not isinstance(slo, (int, float)) or slo <= 0):
            raise _fail(where, f"lag_slo_seconds must be a positive number, not {slo!r}")
        max_lag = body.get("max_lag_messages")
        if max_lag is not None and (isinstance(max_lag, bool) or not isinstance(max_lag, int) or max_lag < 0):
            raise _fail(where, f"max_lag_messages must be a non-negative integer, not {max_lag!r}")
        groups[name] = Group(name, service, tuple(names), _bool(body.get("idempotent"), f"{where} idempotent"),
                             None if slo is None else float(slo), max_lag,
                             _duration(body.get("max_time_lag"), f"{where} max_time_lag"))
    return groups


def parse_topology(doc: Any, *, source: str = "topology") -> Topology:
    """Validate a parsed YAML document into a Topology."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: the topology must be a YAML mapping")
    unknown = set(doc) - {"version", "name", "limits", "services", "topics", "groups"}
    if unknown:
        raise _fail("file", f"unknown top-level field {sorted(unknown)[0]!r}")
    if doc.get("version", 1) != 1:
        raise _fail("file", f"version {doc.get('version')!r} is not supported (expected 1)")
    limits = dict(DEFAULT_LIMITS)
    for k, v in _mapping(doc.get("limits"), "limits").items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise _fail("limits", f"{k} must be a non-negative number, not {v!r}")
        limits[str(k)] = v
    services, calls = _services(_mapping(doc.get("services"), "services"))
    topics = _topics(_mapping(doc.get("topics"), "topics"), services)
    return Topology(
        name=str(doc.get("name") or "topology"),
        services=services,
        topics=topics,
        groups=_groups(_mapping(doc.get("groups"), "groups"), services, topics),
        sync_edges=_edges(services, calls),
        limits=limits,
    )


def load_topology(path: str | os.PathLike[str]) -> Topology:
    """Read and validate a topology file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read topology file {p}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    try:
        return parse_topology(doc, source=str(p))
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def tables(topo: Topology) -> dict[str, pa.Table]:
    """The declaration as Arrow tables, one per topology_* table."""
    def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=schema)

    return {
        "topology_services": table(
            [{"name": s.name, "description": s.description, "side_effect": s.side_effect}
             for s in topo.services.values()],
            pa.schema([("name", pa.string()), ("description", pa.string()), ("side_effect", pa.bool_())])),
        "topology_endpoints": table(
            [{"service": s.name, "method": e.method, "route": e.route}
             for s in topo.services.values() for e in s.endpoints],
            pa.schema([("service", pa.string()), ("method", pa.string()), ("route", pa.string())])),
        "topology_topics": table(
            [{"name": t.name, "producer": t.producer, "event_types": list(t.event_types),
              "schema_version": t.schema_version, "partitions": t.partitions, "envelope": t.envelope,
              "dead_letter": t.dead_letter, "dead_letter_of": t.dead_letter_of} for t in topo.topics.values()],
            pa.schema([("name", pa.string()), ("producer", pa.string()), ("event_types", pa.list_(pa.string())),
                       ("schema_version", pa.string()), ("partitions", pa.int32()), ("envelope", pa.string()),
                       ("dead_letter", pa.bool_()), ("dead_letter_of", pa.string())])),
        "topology_groups": table(
            [{"name": g.name, "service": g.service, "topics": list(g.topics), "idempotent": g.idempotent,
              "lag_slo_seconds": g.lag_slo_seconds, "max_lag_messages": g.max_lag_messages,
              "max_time_lag_s": g.max_time_lag_seconds} for g in topo.groups.values()],
            pa.schema([("name", pa.string()), ("service", pa.string()), ("topics", pa.list_(pa.string())),
                       ("idempotent", pa.bool_()), ("lag_slo_seconds", pa.float64()),
                       ("max_lag_messages", pa.int64()), ("max_time_lag_s", pa.float64())])),
        "topology_sync_edges": table(
            [{"caller": e.caller, "callee": e.callee, "method": e.method, "route": e.route} for e in topo.sync_edges],
            pa.schema([("caller", pa.string()), ("callee", pa.string()), ("method", pa.string()),
                       ("route", pa.string())])),
        "topology_limits": table(
            [{"name": k, "value": float(v)} for k, v in sorted(topo.limits.items())],
            pa.schema([("name", pa.string()), ("value", pa.float64())])),
    }


def load_into_store(store: Any, path: str | os.PathLike[str]) -> Topology:
    """Replace the store's declared topology with the file's, atomically."""
    topo = load_topology(path)
    with store.transaction() as tx:
        for name, table in tables(topo).items():
            tx.replace(name, table)
    return topo
