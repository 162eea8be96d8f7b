"""One trace for the Trace page: a span's full detail, and the traces its messages connect it to.

A trace's spans are read inside the trace's own time range (from trace_facts, or from the
spans when it is not derived yet), so a lookup by id never scans all history. Producer and
consumer traces come from message_lag, where collectors.derive paired every consumer span
with its producer span by link, parent, traceparent, offset or message id
(docs/architecture.md#event-lag); a span's own links are read as sent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from collectors.model import KIND_NAMES

_RANGE_FACTS = "SELECT start_time, end_time FROM trace_facts WHERE trace_id = ?"
_RANGE_SPANS = "SELECT min(start_time), max(end_time) FROM spans WHERE trace_id = ?"

_SPAN = """
SELECT trace_id, span_id, parent_span_id, service, service_instance, scope, name, kind, start_time, end_time,
       duration_us / 1000.0 AS duration_ms, status_code, status_message, attributes, resource, events, links
FROM spans
WHERE trace_id = $trace_id AND span_id = $span_id AND start_time >= $t0 AND start_time <= $t1
ORDER BY ingested_at
LIMIT 1
"""

# Messages this trace consumed, and where they were produced (possibly in this very trace).
_PRODUCERS = """
SELECT consumer_span_id AS span_id, consumer_service, consumer_group, topic, "partition", "offset",
       producer_trace_id AS other_trace_id, producer_span_id AS other_span_id, producer_service AS other_service,
       pairing, lag_e2e_us / 1000.0 AS lag_ms
FROM message_lag
WHERE consumer_trace_id = $trace_id AND process_start >= $t0 AND process_start <= $t1
  AND producer_span_id IS NOT NULL
ORDER BY process_start, consumer_span_id, link_index
"""

# Messages this trace produced, and every consumer that processed them (possibly much later).
_CONSUMERS = """
SELECT producer_span_id AS span_id, producer_service, topic, "partition", "offset",
       consumer_trace_id AS other_trace_id, consumer_span_id AS other_span_id, consumer_service AS other_service,
       consumer_group, pairing, lag_e2e_us / 1000.0 AS lag_ms
FROM message_lag
WHERE producer_trace_id = $trace_id AND process_start >= $t0
ORDER BY process_start, consumer_trace_id, consumer_span_id
LIMIT $limit
"""

_LINKS = """
SELECT span_id, service, l.trace_id AS other_trace_id, l.span_id AS other_span_id, l.attributes AS link_attributes
FROM (SELECT span_id, service, unnest(links) AS l FROM spans
      WHERE trace_id = $trace_id AND start_time >= $t0 AND start_time <= $t1 AND len(links) > 0)
ORDER BY span_id
"""


def time_range(con: duckdb.DuckDBPyConnection, trace_id: str) -> tuple[datetime, datetime] | None:
    """The trace's first start and last end; None when no span of it is stored."""
    row = con.execute(_RANGE_FACTS, [trace_id]).fetchone()
    if row is None:
        row = con.execute(_RANGE_SPANS, [trace_id]).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def span_detail(con: duckdb.DuckDBPyConnection, trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span: names, kind, times, status, and its attributes, resource, events and links decoded."""
    rng = time_range(con, trace_id)
    if rng is None:
        return None
    df = con.execute(_SPAN, {"trace_id": trace_id, "span_id": span_id, "t0": rng[0], "t1": rng[1]}).df()
    if df.empty:
        return None
    r = df.iloc[0].to_dict()
    r["kind"] = KIND_NAMES.get(int(r["kind"]), str(r["kind"])) if pd.notna(r["kind"]) else None
    r["status"] = {0: "unset", 1: "ok", 2: "error"}.get(int(r["status_code"] or 0), str(r["status_code"]))
    r["attributes"] = _loads(r["attributes"], {})
    r["resource"] = _loads(r["resource"], {})
    events = _loads(r["events"], [])
    start_us = pd.Timestamp(r["start_time"]).value // 1000
    r["events"] = [{"name": e.get("name"), "offset_ms": (int(e["time_us"]) - start_us) / 1000
                    if isinstance(e.get("time_us"), int) else None, "attributes": e.get("attributes") or {}}
                   for e in events if isinstance(e, dict)]
    links = r["links"] if r["links"] is not None else []
    r["links"] = [{"trace_id": ln["trace_id"], "span_id": ln["span_id"],
                   "attributes": _loads(ln.get("attributes"), {})} for ln in links]
    return r


def producers(con: duckdb.DuckDBPyConnection, trace_id: str) -> pd.DataFrame:
    """Per consumer span of this trace: the producer span of its message (trace, span, service,
    topic, partition, offset) and how the two were paired."""
    rng = time_range(con, trace_id)
    if rng is None:
        return pd.DataFrame()
    return con.execute(_PRODUCERS, {"trace_id": trace_id, "t0": rng[0], "t1": rng[1]}).df()


def consumers(con: duckdb.DuckDBPyConnection, trace_id: str, *, limit: int = 200) -> pd.DataFrame:
    """Per producer span of this trace: each consumer span that processed its message (trace,
    span, service, group) and how they were paired. Consumers start after the trace did."""
    rng = time_range(con, trace_id)
    if rng is None:
        return pd.DataFrame()
    return con.execute(_CONSUMERS, {"trace_id": trace_id, "t0": rng[0], "limit": limit}).df()


def links(con: duckdb.DuckDBPyConnection, trace_id: str) -> pd.DataFrame:
    """The span links this trace's spans carry: which span links to which (trace, span)."""
    rng = time_range(con, trace_id)
    if rng is None:
        return pd.DataFrame()
    return con.execute(_LINKS, {"trace_id": trace_id, "t0": rng[0], "t1": rng[1]}).df()
