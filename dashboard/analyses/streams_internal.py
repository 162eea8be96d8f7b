"""Kafka Streams' internal topics: an application's changelogs and repartition topics.

A Kafka Streams application (its ``application.id`` is its consumer group) creates topics of
its own, named ``<application.id>-<name>-changelog`` (a state store's backup, compacted),
``<application.id>-<name>-repartition`` (records re-keyed on their way to an aggregation or a
join) and, for foreign-key joins, ``…-subscription-registration-topic`` and
``…-subscription-response-topic``. Their records are written in Kafka Streams' own formats: a
changelog holds a store's serialized values (an 8-byte count, an aggregate) without headers, a
repartition topic copies its input's records. Their design is the library's, so the event-design
audit and the topology's declared topics leave them out, as they leave out dead-letter and retry
topics; their consumer lag is kept (a Streams application behind on its repartition topic is
behind).

A topic is such when its name ends so and begins with the id of a consumer group polled in the
window and a dash, or, without that group (imported records), when its name is one Kafka
Streams makes up for an unnamed operator (``…-KSTREAM-AGGREGATE-STATE-STORE-0000000010-changelog``).
The groups are read only when a topic's name ends so, and only the window's polls (5 ms over 20M
polls where all of them took 20).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb

from dashboard.analyses.processings import has_table
from dashboard.analyses.window import Window

_SUFFIXES = "changelog|repartition|subscription-registration-topic|subscription-response-topic"
SUFFIX = re.compile(f"-({_SUFFIXES})$")
# a name Kafka Streams makes up for an unnamed operator: its kind, then a ten-digit index
GENERATED = re.compile(r"-(KSTREAM|KTABLE)-[A-Z-]+-\d{10}-[a-z-]+$")

_GROUPS = """
SELECT c.topic, arg_max(g.group_id, length(g.group_id)) AS app
FROM (SELECT DISTINCT group_id FROM group_offsets WHERE polled_at >= $start AND polled_at < $end) g,
     (SELECT unnest($topics) AS topic) c
WHERE starts_with(c.topic, g.group_id || '-')
  -- a store or operator name between the id and the suffix: "orders-changelog" is no Streams name of "orders"
  AND NOT regexp_full_match(substr(c.topic, length(g.group_id) + 2), $suffix)
GROUP BY c.topic
"""


def apps(con: duckdb.DuckDBPyConnection, topics: Iterable[str], window: Window) -> dict[str, str]:
    """Each of ``topics`` that is a Kafka Streams application's internal topic: the application's
    id (the consumer group whose id begins its name; the longest when several do), or "" when only
    the name says so. Topics that are not are left out."""
    candidates = sorted({t for t in topics if isinstance(t, str) and SUFFIX.search(t)})
    if not candidates:
        return {}
    found: dict[str, str] = {}
    if has_table(con, "group_offsets"):
        found = dict(con.execute(_GROUPS, {"topics": candidates, "start": window.start, "end": window.end,
                                           "suffix": f"({_SUFFIXES})"}).fetchall())
    for t in candidates:
        if t not in found and GENERATED.search(t):
            found[t] = ""
    return found
