"""Event design audit over observed records (DESIGN §5.6).

Rules owned here: EVENT_AS_COMMAND, ENVELOPE_MISSING, MISSING_TRACE_CONTEXT and
NULL_OR_UNSTABLE_KEY (EVENT_ID_COLLISION comes with duplicate publications, in
redeliveries.py). Dead letters and retry-topic copies are left out: infrastructure wrote
them, their design is their origin's. Tombstones (null values) carry no envelope by design.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses import naming
from dashboard.analyses.processings import RETRY_TOPIC_RE, as_dt, as_list
from dashboard.analyses.window import Window
from dashboard.findings.model import Finding

# A key equal to the event id on this share of at least KEY_MIN_RECORDS records means every
# event gets its own key: one entity's events spread over partitions and lose their order.
KEY_IS_ID_SHARE = 0.9
KEY_MIN_RECORDS = 20
SAMPLE = 10
_DEAD_LETTER_NAME = re.compile(r"(\.DLT|-dlt|\.DLQ|-dlq)$")

_EVENTS = r"""
SELECT topic, event_type, count(*) AS records,
       count(*) FILTER (WHERE event_id IS NULL) AS missing_id,
       count(*) FILTER (WHERE event_time IS NULL) AS missing_time,
       count(*) FILTER (WHERE event_version IS NULL) AS missing_version,
       count(*) FILTER (WHERE envelope LIKE 'cloudevents%') AS cloudevents,
       count(*) FILTER (WHERE (envelope = 'cloudevents-binary'
                               AND NOT contains(coalesce(headers::VARCHAR, ''), '"ce_specversion"'))
                           OR (envelope = 'cloudevents-structured'
                               AND NOT contains(coalesce(value_excerpt, ''), '"specversion"'))) AS ce_missing_specversion,
       count(*) FILTER (WHERE envelope LIKE 'cloudevents%' AND event_source IS NULL) AS ce_missing_source,
       count(*) FILTER (WHERE envelope LIKE 'cloudevents%' AND event_type IS NULL) AS ce_missing_type,
       count(*) FILTER (WHERE envelope LIKE 'cloudevents%' AND event_id IS NULL) AS ce_missing_id,
       count(*) FILTER (WHERE event_id IS NULL OR event_time IS NULL OR event_version IS NULL
                           OR (envelope LIKE 'cloudevents%' AND (event_source IS NULL OR event_type IS NULL))
                           OR (envelope = 'cloudevents-binary'
                               AND NOT contains(coalesce(headers::VARCHAR, ''), '"ce_specversion"'))
                           OR (envelope = 'cloudevents-structured'
                               AND NOT contains(coalesce(value_excerpt, ''), '"specversion"'))) AS incomplete,
       count(*) FILTER (WHERE trace_id IS NULL) AS no_trace_context,
       count(*) FILTER (WHERE "key" IS NULL) AS null_key,
       count(*) FILTER (WHERE "key" = event_id) AS key_is_event_id,
       min(coalesce("timestamp", tapped_at)) AS first_seen, max(coalesce("timestamp", tapped_at)) AS last_seen,
       -- the first ten positions only (arg_min with n never builds the full list)
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE event_id IS NULL OR event_time IS NULL OR event_version IS NULL) AS sample_incomplete,
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE trace_id IS NULL) AS sample_no_trace,
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE "key" IS NULL) AS sample_null_key
FROM records
WHERE NOT coalesce(is_dead_letter, false) AND NOT regexp_matches(topic, $retry_re) AND value_size >= 0
  AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
GROUP BY ALL
ORDER BY topic, event_type
"""

_UNSTABLE = r"""
SELECT topic, count(*) AS ids_with_several_keys, arg_min(event_id, event_id, 10) AS sample_ids
FROM (
    SELECT topic, event_id FROM records
    WHERE event_id IS NOT NULL AND NOT coalesce(is_dead_letter, false) AND NOT regexp_matches(topic, $retry_re)
      AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
    GROUP BY ALL HAVING min("key") <> max("key")  -- two keys at least, without a DISTINCT aggregate
)
GROUP BY ALL ORDER BY topic
"""

# Topics seen only in spans (no tap), and consumer spans that lost the producer's context.
_SPAN_TOPICS = r"""
SELECT destination AS topic, count(*) AS spans,
       count(*) FILTER (WHERE kind = 5 AND parent_span_id IS NULL AND len(coalesce(links, [])) = 0)
           AS orphan_consumers,
       min(start_time) AS first_seen, max(start_time) AS last_seen
FROM spans
WHERE kind IN (4, 5) AND destination IS NOT NULL AND start_time >= $start AND start_time < $end
  AND NOT regexp_matches(destination, $retry_re)
GROUP BY ALL ORDER BY topic
"""


def _p(window: Window) -> dict[str, object]:
    return {"start": window.start, "end": window.end, "retry_re": RETRY_TOPIC_RE}


def event_types(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Per (topic, event type): records and how many lack an id, a time, a version, CloudEvents
    required attributes, trace context or a key; with sample partition/offset positions."""
    df = con.execute(_EVENTS, _p(window)).df()
    df["naming"] = [naming.classify(t)[0] if isinstance(t, str) else None for t in df["event_type"]]
    return df


def unstable_keys(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Per topic: event ids published under more than one key."""
    return con.execute(_UNSTABLE, _p(window)).df()


def span_topics(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Topics named by producer/consumer spans, with consumers that started a fresh trace."""
    return con.execute(_SPAN_TOPICS, _p(window)).df()


def names(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Every observed topic name and event type with its classification (naming.classify)."""
    ev = event_types(con, window)
    topics = sorted(set(ev["topic"]) | set(span_topics(con, window)["topic"]))
    rows = [("topic", t, t, *naming.classify(t)) for t in topics if not _derived(t)]
    for (topic, et), _ in ev.dropna(subset=["event_type"]).groupby(["topic", "event_type"], sort=True):
        rows.append(("event_type", et, topic, *naming.classify(et)))
    return pd.DataFrame(rows, columns=["kind", "name", "topic", "verdict", "why"])


def _derived(topic: str) -> bool:
    """Retry and dead-letter topics: their names derive from the origin's."""
    return bool(re.search(RETRY_TOPIC_RE, topic) or _DEAD_LETTER_NAME.search(topic))


# -- findings -----------------------------------------------------------------------------

def _when(df: pd.DataFrame) -> tuple[Any, Any]:
    return as_dt(df["first_seen"].min()), as_dt(df["last_seen"].max())


def findings(con: duckdb.DuckDBPyConnection, window: Window, topology: Any = None) -> list[Finding]:
    ev = event_types(con, window)
    spans = span_topics(con, window)
    out: list[Finding] = []
    out += _commands(ev, spans)
    out += _envelopes(ev)
    out += _trace_context(ev, spans)
    out += _keys(ev, unstable_keys(con, window))
    return out


def _commands(ev: pd.DataFrame, spans: pd.DataFrame) -> list[Finding]:
    out = []
    seen = pd.concat([ev[["topic", "records", "first_seen", "last_seen"]],
                      spans.rename(columns={"spans": "records"})[["topic", "records", "first_seen", "last_seen"]]])
    for topic in sorted(set(seen["topic"])):
        if _derived(topic):
            continue
        verdict, why = naming.classify(topic)
        types = ev[ev["topic"] == topic].dropna(subset=["event_type"])
        commands = [(t, naming.classify(t)) for t in types["event_type"]]
        bad_types = {t: w for t, (v, w) in commands if v == "command"}
        nouns = {t: w for t, (v, w) in commands if v == "noun"}
        rows = seen[seen["topic"] == topic]
        tapped = ev[ev["topic"] == topic]
        first, last = _when(tapped if len(tapped) else rows)  # record times when the tap saw the topic
        if verdict == "command" or bad_types:
            n = int(types[types["event_type"].isin(bad_types)]["records"].sum()) if bad_types else 0
            if verdict == "command":
                n = int(ev.loc[ev["topic"] == topic, "records"].sum()) or int(rows["records"].max())
            named = [f"topic {topic} ({why})"] if verdict == "command" else []
            named += [f"type {t} ({w})" for t, w in bad_types.items()]
            out.append(Finding(
                rule="EVENT_AS_COMMAND", severity="warning", subject_kind="topic", subject=topic, count=n,
                first_seen=first, last_seen=last,
                summary="a command sent as an event: " + "; ".join(named),
                remedy="Ask for the work through an API call to its owner, or publish the fact that "
                       "happened (OrderCreated, not CreateInvoice) and let the owner react.",
                evidence={"topic_verdict": verdict, "command_types": sorted(bad_types)},
            ))
        elif nouns:
            n = int(types[types["event_type"].isin(nouns)]["records"].sum())
            out.append(Finding(
                rule="EVENT_AS_COMMAND", severity="info", subject_kind="topic", subject=topic, count=n,
                first_seen=first, last_seen=last,
                summary="event types that name no fact: " + ", ".join(sorted(nouns)),
                remedy="Name events for what happened, in the past tense (OrderCreated, PaymentCaptured).",
                evidence={"noun_types": sorted(nouns)},
            ))
    return out


def _envelopes(ev: pd.DataFrame) -> list[Finding]:
    out = []
    checks = ("missing_id", "missing_time", "missing_version", "ce_missing_specversion", "ce_missing_source",
              "ce_missing_type", "ce_missing_id")
    for topic, df in ev.groupby("topic", sort=True):
        bad = df[(df[list(checks)] > 0).any(axis=1)]
        if bad.empty:
            continue
        per_type = {}
        for r in bad.itertuples(index=False):
            missing = {c: int(getattr(r, c)) for c in checks if getattr(r, c)}
            per_type[r.event_type if isinstance(r.event_type, str) else "(no type)"] = {
                "records": int(r.records), "missing": missing, "sample": as_list(r.sample_incomplete)}
        lacks = sorted({c.replace("ce_missing_", "CloudEvents ").replace("missing_", "")
                        for t in per_type.values() for c in t["missing"]})
        n = int(bad["incomplete"].sum())
        first, last = _when(bad)
        out.append(Finding(
            rule="ENVELOPE_MISSING", severity="warning", subject_kind="topic", subject=str(topic),
            count=n, first_seen=first, last_seen=last,
            summary=f"events on {topic} lack: {', '.join(lacks)} ({', '.join(sorted(per_type))})",
            remedy="Give every event an envelope with a stable id, the time it happened and a schema "
                   "version (CloudEvents: id, source, specversion, type).",
            evidence={"event_types": per_type},
        ))
    return out


def _trace_context(ev: pd.DataFrame, spans: pd.DataFrame) -> list[Finding]:
    out = []
    tapped = set(ev["topic"])
    by_topic = ev.groupby("topic", sort=True).agg(records=("records", "sum"), missing=("no_trace_context", "sum"),
                                                   first_seen=("first_seen", "min"), last_seen=("last_seen", "max"),
                                                   sample=("sample_no_trace", "first"))
    for topic, r in by_topic.iterrows():
        if r.missing:
            out.append(Finding(
                rule="MISSING_TRACE_CONTEXT", severity="warning", subject_kind="topic", subject=str(topic),
                count=int(r.missing), first_seen=as_dt(r.first_seen), last_seen=as_dt(r.last_seen),
                summary=f"{int(r.missing)} of {int(r.records)} records on {topic} carry no traceparent header",
                remedy="Instrument the producer (OpenTelemetry Kafka instrumentation) so every event carries "
                       "W3C trace context in its headers.",
                evidence={"source": "records", "sample": as_list(r["sample"])},
            ))
    for r in spans.itertuples(index=False):
        if r.topic not in tapped and r.orphan_consumers:
            out.append(Finding(
                rule="MISSING_TRACE_CONTEXT", severity="warning", subject_kind="topic", subject=str(r.topic),
                count=int(r.orphan_consumers), first_seen=as_dt(r.first_seen), last_seen=as_dt(r.last_seen),
                summary=f"{int(r.orphan_consumers)} consumer spans on {r.topic} start a new trace: "
                        "the producer's context was not propagated",
                remedy="Propagate W3C trace context in the record headers, producer and consumer side.",
                evidence={"source": "spans"},
            ))
    return out


def _keys(ev: pd.DataFrame, unstable: pd.DataFrame) -> list[Finding]:
    out = []
    unstable = unstable.set_index("topic")
    for topic, df in ev.groupby("topic", sort=True):
        records = int(df["records"].sum())
        null_key = int(df["null_key"].sum())
        key_is_id = int(df["key_is_event_id"].sum())
        several = int(unstable.loc[topic, "ids_with_several_keys"]) if topic in unstable.index else 0
        problems, evidence = [], {}
        if null_key:
            problems.append(f"{null_key} of {records} records have no key")
            evidence["null_key"] = null_key
            evidence["sample_null_key"] = [x for s in df["sample_null_key"] for x in as_list(s)][:SAMPLE]
        if records >= KEY_MIN_RECORDS and key_is_id >= KEY_IS_ID_SHARE * records:
            problems.append("the key is the event id, so one entity's events are not kept in order")
            evidence["key_is_event_id"] = key_is_id
        if several:
            problems.append(f"{several} event ids were published under different keys")
            evidence["ids_with_several_keys"] = several
            evidence["sample_ids"] = as_list(unstable.loc[topic, "sample_ids"])
        if problems:
            first, last = _when(df)
            out.append(Finding(
                rule="NULL_OR_UNSTABLE_KEY", severity="warning", subject_kind="topic", subject=str(topic),
                count=null_key + several + (key_is_id if "key_is_event_id" in evidence else 0),
                first_seen=first, last_seen=last, summary=f"{topic}: " + "; ".join(problems),
                remedy="Key every event by the id of the entity it is about (order id, account id), "
                       "so its events stay in one partition, in order.",
                evidence=evidence,
            ))
    return out
