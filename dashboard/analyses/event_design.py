"""Event design audit over observed records (docs/architecture.md#event-design-audit).

Rules owned here: EVENT_AS_COMMAND, ENVELOPE_MISSING, MISSING_TRACE_CONTEXT and
NULL_OR_UNSTABLE_KEY (EVENT_ID_COLLISION comes with duplicate publications, in
redeliveries.py). Dead letters and retry-topic copies are left out: infrastructure wrote
them, their design is their origin's; so are Kafka Streams' internal topics, whose design is
the library's (dashboard/analyses/streams_internal.py). Tombstones (null values) carry no
envelope by design.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses import naming, streams_internal, topic_settings
from dashboard.analyses.processings import RETRY_TOPIC_RE, as_dt
from dashboard.analyses.window import Window

# A key equal to the event id on this share of at least KEY_MIN_RECORDS records means every
# event gets its own key: one entity's events spread over partitions and lose their order.
KEY_IS_ID_SHARE = 0.9
KEY_MIN_RECORDS = 20
SAMPLE = 10
_DEAD_LETTER_NAME = re.compile(r"(\.DLT|-dlt|\.DLQ|-dlq)$")

# A schema-registry value kept as bytes (no schema for its id: collect's --schemas folder lacks it,
# or the registry was down): magic byte 0 then the schema id, never 0 (collectors.normalize.
# wire_format.is_wire_format: five zero bytes start a LongSerde number). Its envelope is unknown,
# not missing, so ENVELOPE_MISSING leaves it out (ingest_errors says why it was not decoded). The
# excerpt holds the value's first bytes, as text when they are UTF-8, else base64: a first byte 0
# is "A" then one of "A".."P" (the next 6-bit group's top two bits are that byte's last two); five
# zero bytes are "AAAAAA" then one of "A".."D".
_UNDECODED = r"""coalesce(envelope = 'none' AND value_size >= 5
    AND ((starts_with(value_excerpt, chr(0)) AND substr(value_excerpt, 2, 4) <> repeat(chr(0), 4))
         OR (starts_with(value_excerpt, 'base64:A') AND substr(value_excerpt, 9, 1) BETWEEN 'A' AND 'P'
             AND NOT (starts_with(value_excerpt, 'base64:AAAAAA') AND substr(value_excerpt, 14, 1) BETWEEN 'A' AND 'D'))),
    false)"""

# CloudEvents' required attributes, and the envelope column of each in structured mode
_CE_ATTRIBUTES = {"specversion": None, "source": "event_source", "type": "event_type", "id": "event_id"}


def _ce_lacks(attribute: str, column: str | None) -> str:
    """A CloudEvent without one of its required attributes. In binary mode they are the ce_ headers
    (the envelope columns may have been filled from the value: an id there is no ce_id); in
    structured mode the value's own attributes (specversion read from its excerpt)."""
    structured = (f"{column} IS NULL" if column else
                  "NOT contains(coalesce(value_excerpt, ''), '\"specversion\"')")
    return (f"((envelope = 'cloudevents-binary' AND NOT contains(coalesce(headers::VARCHAR, ''), '\"ce_{attribute}\"'))"
            f" OR (envelope = 'cloudevents-structured' AND {structured}))")


# A record of a compacted topic (cleanup.policy compact, as the tap last read it: migration 019) is
# its key's latest state, identified by its key, and stamped by the broker's record time: it is
# asked for a version only, not an event id or an event time.
_STATE = "coalesce(c.compacted, false)"


def _expanded(sql: str) -> str:
    """``sql`` with UNDECODED, STATE and each CE_LACKS_<ATTRIBUTE> written out."""
    sql = sql.replace("UNDECODED", _UNDECODED).replace("STATE", _STATE)
    for attribute, column in _CE_ATTRIBUTES.items():
        sql = sql.replace(f"CE_LACKS_{attribute.upper()}", _ce_lacks(attribute, column))
    return sql


_EVENTS = _expanded(r"""
WITH compacted AS (
    SELECT cluster, topic, true AS compacted FROM {settings} WHERE contains(coalesce(policy, ''), 'compact')
)
SELECT topic, event_type, count(*) AS records, bool_or(STATE) AS compacted,
       count(*) FILTER (WHERE UNDECODED) AS undecoded,
       count(*) FILTER (WHERE event_id IS NULL AND NOT UNDECODED AND NOT STATE) AS missing_id,
       count(*) FILTER (WHERE event_time IS NULL AND NOT UNDECODED AND NOT STATE) AS missing_time,
       count(*) FILTER (WHERE event_version IS NULL AND NOT UNDECODED) AS missing_version,
       count(*) FILTER (WHERE envelope LIKE 'cloudevents%') AS cloudevents,
       count(*) FILTER (WHERE CE_LACKS_SPECVERSION) AS ce_missing_specversion,
       count(*) FILTER (WHERE CE_LACKS_SOURCE) AS ce_missing_source,
       count(*) FILTER (WHERE CE_LACKS_TYPE) AS ce_missing_type,
       count(*) FILTER (WHERE CE_LACKS_ID) AS ce_missing_id,
       count(*) FILTER (WHERE (((event_id IS NULL OR event_time IS NULL) AND NOT STATE OR event_version IS NULL)
                               AND NOT UNDECODED)
                           OR CE_LACKS_SPECVERSION OR CE_LACKS_SOURCE OR CE_LACKS_TYPE OR CE_LACKS_ID) AS incomplete,
       count(*) FILTER (WHERE trace_id IS NULL) AS no_trace_context,
       count(*) FILTER (WHERE "key" IS NULL) AS null_key,
       count(*) FILTER (WHERE "key" = event_id) AS key_is_event_id,
       min(coalesce("timestamp", tapped_at)) AS first_seen, max(coalesce("timestamp", tapped_at)) AS last_seen,
       -- the first ten positions only (arg_min with n never builds the full list)
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE ((event_id IS NULL OR event_time IS NULL) AND NOT STATE OR event_version IS NULL)
                         AND NOT UNDECODED)
           AS sample_incomplete,
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE trace_id IS NULL) AS sample_no_trace,
       arg_min("partition" || '/' || "offset", ("partition", "offset"), 10)
           FILTER (WHERE "key" IS NULL) AS sample_null_key
FROM records LEFT JOIN compacted c USING (cluster, topic)
WHERE NOT coalesce(is_dead_letter, false) AND NOT regexp_matches(topic, $retry_re) AND value_size >= 0
  AND coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
GROUP BY ALL
ORDER BY topic, event_type
""")

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


def event_types(con: duckdb.DuckDBPyConnection, window: Window, *, streams: bool = False) -> pd.DataFrame:
    """Per (topic, event type): records and how many lack an id, a time, a version, CloudEvents
    required attributes, trace context or a key, and how many are schema-registry values kept
    undecoded (never counted as lacking an envelope); with sample partition/offset positions, and
    whether the topic is compacted (a file from before migration 019 knows of none).

    Kafka Streams' internal topics are left out; ``streams``: kept, with their application's id in
    ``streams_app`` (None for every other topic)."""
    df = con.execute(_EVENTS.format(settings=topic_settings.latest(con)), _p(window)).df()
    df["naming"] = [naming.classify(t)[0] if isinstance(t, str) else None for t in df["event_type"]]
    internal = streams_internal.apps(con, df["topic"].unique(), window)
    if streams:
        return df.assign(streams_app=pd.Series([internal.get(t) for t in df["topic"]], index=df.index, dtype=object))
    return _audited(df, internal)


def unstable_keys(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Per topic: event ids published under more than one key."""
    df = con.execute(_UNSTABLE, _p(window)).df()
    return _audited(df, streams_internal.apps(con, df["topic"].unique(), window))


def span_topics(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Topics named by producer/consumer spans, with consumers that started a fresh trace."""
    df = con.execute(_SPAN_TOPICS, _p(window)).df()
    return _audited(df, streams_internal.apps(con, df["topic"].unique(), window))


def _audited(df: pd.DataFrame, internal: dict[str, str]) -> pd.DataFrame:
    """The rows of topics the audit judges: Kafka Streams' internal ones left out."""
    return df[~df["topic"].isin(internal)].reset_index(drop=True) if internal else df


# A database change event, as Debezium writes one: its context headers (Debezium 2.5 on), or a JSON
# value holding a row's before and after images and the operation ({"before", "after", "source",
# "op"}, under Kafka Connect's "payload" when its schema is written too). Read of a topic's sampled
# records only: over every record it cost the audit 0.5 s at 2M records (their excerpts read).
_CHANGE_EVENTS = r"""
SELECT topic, count(*) AS sampled,
       count(*) FILTER (WHERE contains(coalesce(headers, ''), '"__debezium.context.')
                           OR (contains(coalesce(value_excerpt, ''), '"before":') AND contains(value_excerpt, '"after":')
                               AND contains(value_excerpt, '"op":'))) AS change_events
FROM records
WHERE coalesce("timestamp", tapped_at) >= $start AND coalesce("timestamp", tapped_at) < $end
  AND topic IN (SELECT unnest($topics))  -- (zone maps: the sampled topics' row groups only)
  AND (topic, "partition", "offset") IN (
      SELECT (t, p, o) FROM (SELECT unnest($topics_of) AS t, unnest($partitions) AS p, unnest($offsets) AS o))
GROUP BY topic
"""


def change_events(con: duckdb.DuckDBPyConnection, window: Window, samples: dict[str, list[str]]) -> dict[str, float]:
    """topic → the share of its sampled records (``partition/offset`` positions) that are database
    change events (Debezium's)."""
    pos = [(t, *map(int, x.split("/"))) for t, xs in samples.items() for x in xs]
    if not pos:
        return {}
    rows = con.execute(_CHANGE_EVENTS, {"start": window.start, "end": window.end, "topics": sorted(samples),
                                        "topics_of": [t for t, _, _ in pos], "partitions": [p for _, p, _ in pos],
                                        "offsets": [o for _, _, o in pos]})
    return {t: n / sampled for t, sampled, n in rows.fetchall() if sampled}


def names(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Every observed topic name and event type with its classification (naming.classify)."""
    ev = event_types(con, window)
    topics = sorted(set(ev["topic"]) | set(span_topics(con, window)["topic"]))
    rows = [("topic", t, t, *naming.classify(t)) for t in topics if not derived_topic(t)]
    for (topic, et), _ in ev.dropna(subset=["event_type"]).groupby(["topic", "event_type"], sort=True):
        rows.append(("event_type", et, topic, *naming.classify(et)))
    return pd.DataFrame(rows, columns=["kind", "name", "topic", "verdict", "why"])


def derived_topic(topic: str) -> bool:
    """Retry and dead-letter topics: their names derive from the origin's."""
    return bool(re.search(RETRY_TOPIC_RE, topic) or _DEAD_LETTER_NAME.search(topic))


def seen_between(df: pd.DataFrame) -> tuple[Any, Any]:
    """The first and last time the rows were seen."""
    return as_dt(df["first_seen"].min()), as_dt(df["last_seen"].max())
