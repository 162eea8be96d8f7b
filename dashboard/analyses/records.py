"""Stored records: search, one record's detail, and what happened to it (docs/architecture.md#records).

A search takes the page's time window and any mix of filters (RecordQuery). The SQL is built
from constant fragments, one per filter given, and binds every value; leaving out the filters
not given (rather than `? IS NULL OR ...`) keeps DuckDB's zone-map pruning on the time,
partition and offset columns. The time filter reads the broker timestamp as stored, so that
row groups outside the window are skipped (records are appended in time order); a record
without one (a pre-0.10 message format) is found by its position only.

Value filters read the stored excerpt (the first KiB of the value, or the schema-decoded value
as JSON), so content past it is not searched.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from collectors.errors import SeamwatchError
from collectors.normalize.binary import CONNECT_PAYLOAD, CONNECT_SCHEMA
from collectors.normalize.binary import text as stored_text
from dashboard.analyses.processings import GENERATION_SPANS, GENERATIONS, as_list, for_store
from dashboard.analyses.window import Window

PAGE_SIZE = 50
# Processings of a record are looked for from this long before its timestamp (producer clocks skew).
CLOCK_SLACK = timedelta(hours=1)
# Duplicate publications of a record are looked for this long before and after it: a producer
# retry or an outbox relay publishes again within seconds or minutes.
REPUBLISH_SPAN = timedelta(hours=1)


class SearchError(SeamwatchError, ValueError):
    """A search filter that cannot be read; the message is one line saying which and why."""


@dataclass(frozen=True)
class JsonPathEq:
    """`$.a.b[0] == <JSON literal>`: `path` is the DuckDB JSON path, `value` the parsed literal."""

    path: str
    value: Any
    last_name: str | None  # the last object key on the path, for a cheap substring pre-filter

    def __str__(self) -> str:
        return f"{self.path} == {json.dumps(self.value, ensure_ascii=False)}"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_JSON_SCALAR = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')


def parse_json_path(text: str) -> JsonPathEq:
    """Parse `$.customerId == "c-42"` (also `$.data.lines[0].sku == 'x'`, `$["a b"] == 3`).

    Raises SearchError with what was expected and where."""
    s = text.strip()
    if not s.startswith("$"):
        raise SearchError(f"a JSON path starts with '$' (e.g. $.customerId == \"c-42\"), not {s[:20]!r}")
    i, parts, last = 1, ["$"], None
    while i < len(s) and s[i] in ".[":
        if s[i] == ".":
            m = _NAME.match(s, i + 1)
            if not m:
                raise SearchError(f"JSON path: a field name must follow '.' at position {i + 1}")
            last = m.group()
            parts.append(f'."{last}"')
            i = m.end()
        else:
            m = re.compile(r'\[\s*(\d+)\s*\]|\[\s*("(?:[^"\\]|\\.)*")\s*\]').match(s, i)
            if not m:
                raise SearchError(f"JSON path: expected [index] or [\"name\"] at position {i + 1}")
            if m.group(1) is not None:
                parts.append(f"[{int(m.group(1))}]")
            else:
                last = json.loads(m.group(2))
                if '"' in last or "\\" in last:
                    raise SearchError("JSON path: a field name with a quote or backslash cannot be searched")
                parts.append(f'."{last}"')
            i = m.end()
    if len(parts) == 1:
        raise SearchError("JSON path: name a field after '$', e.g. $.customerId == \"c-42\"")
    rest = s[i:].lstrip()
    if not rest.startswith("=="):
        raise SearchError(f"JSON path: expected '==' after {s[:i]!r}, found {rest[:10]!r}")
    literal = rest[2:].strip()
    if literal.startswith("'") and literal.endswith("'") and len(literal) >= 2:
        literal = json.dumps(literal[1:-1])  # single quotes, as people type them
    if not _JSON_SCALAR.fullmatch(literal):
        raise SearchError(f"JSON path: the value must be a JSON string, number, true, false or null, "
                          f"not {literal[:30]!r}")
    try:
        value = json.loads(literal)
    except ValueError as exc:
        raise SearchError(f"JSON path: the value {literal[:30]!r} is not valid JSON ({exc.msg})") from None
    return JsonPathEq(path="".join(parts), value=value, last_name=last)


def is_json_path(text: str | None) -> bool:
    """Whether a value filter is meant as a JSON-path equality rather than a substring."""
    return bool(text) and text.lstrip().startswith(("$.", "$["))


@dataclass(frozen=True)
class RecordQuery:
    """What to search for; every field optional. `value` is a substring, or a JSON-path
    equality when it starts with '$.' or '$['."""

    cluster: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset_from: int | None = None
    offset_to: int | None = None
    key: str | None = None
    header: str | None = None
    header_value: str | None = None
    value: str | None = None

    @classmethod
    def from_strings(cls, **raw: str | None) -> RecordQuery:
        """From form fields or URL params (text); raises SearchError naming the bad one."""
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise SearchError(f"unknown search field {sorted(unknown)[0]!r}")
        clean = {k: (v.strip() if isinstance(v, str) else v) or None for k, v in raw.items()}
        out: dict[str, Any] = {}
        for name in ("partition", "offset_from", "offset_to"):
            v = clean.pop(name, None)
            if v is not None:
                try:
                    out[name] = int(v.replace(",", "").replace("_", ""))
                except ValueError:
                    raise SearchError(f"{name.replace('_', ' ')} must be a whole number, not {v[:30]!r}") from None
                if out[name] < 0:
                    raise SearchError(f"{name.replace('_', ' ')} must not be negative")
        q = cls(**clean, **out)
        if q.offset_from is not None and q.offset_to is not None and q.offset_from > q.offset_to:
            raise SearchError(f"offset from ({q.offset_from}) is after offset to ({q.offset_to})")
        if is_json_path(q.value):
            parse_json_path(q.value or "")  # bad syntax is said at once, not at query time
        return q

    def as_params(self) -> dict[str, str]:
        """The filters given, as text (for the URL)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def empty(self) -> bool:
        return not self.as_params()


def key_forms(key: str) -> list[str]:
    """The stored keys a key searched for may be: itself, and for a UUID its canonical text and its
    16 bytes in the form the tap stores a key ("base64:…" when not UTF-8), as a Java or Avro
    producer writes one."""
    try:
        given = uuid.UUID(key.strip())
    except ValueError:
        return [key]
    return list(dict.fromkeys([key, str(given), stored_text(given.bytes)]))


def connect_key_forms(key: str) -> tuple[list[str], str]:
    """How a key searched for ends when Kafka Connect's JsonConverter wrote it with its schema
    (``{"schema": …, "payload": …}``, as a Debezium table's primary key is): suffixes for a
    payload that is the key (74, "74", or a struct typed as {"id":74}), and a pattern for a
    struct of one field holding it ({"id":74} found by 74)."""
    text = key.strip()
    scalars = [json.dumps(text)]
    try:
        if isinstance(json.loads(text), (int, float)):
            scalars.insert(0, text)
    except ValueError:
        pass
    payload = CONNECT_PAYLOAD.decode()
    suffixes = [f"{payload}{j}}}" for j in scalars]
    if text.startswith("{"):
        suffixes.append(f"{payload}{text}}}")
    pattern = re.escape(payload) + r'\{"[^"]+":(' + "|".join(re.escape(j) for j in scalars) + r')\}\}$'
    return suffixes, pattern


def _literal_safe(s: str) -> bool:
    # a text JSON writes as is (no escapes), so a substring test on the stored JSON can pre-filter
    return all(c not in '"\\' and 0x20 <= ord(c) < 0x7F for c in s)


def _where(window: Window | None, q: RecordQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of a search and its bound values, cheapest and most selective first."""
    clauses: list[str] = []
    args: list[Any] = []
    if window is not None:
        clauses.append('"timestamp" >= ? AND "timestamp" < ?')
        args += [window.start, window.end]
    for column, value in (("topic", q.topic), ("cluster", q.cluster), ('"partition"', q.partition)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if q.key is not None:
        keys = key_forms(q.key)
        suffixes, pattern = connect_key_forms(q.key)
        connect = " OR ".join(['suffix("key", ?)'] * len(suffixes) + ['regexp_matches("key", ?)'])
        clauses.append(f"(\"key\" IN ({', '.join('?' * len(keys))}) OR (starts_with(\"key\", ?) AND ({connect})))")
        args += [*keys, CONNECT_SCHEMA.decode(), *suffixes, pattern]
    if q.offset_from is not None:
        clauses.append('"offset" >= ?')
        args.append(q.offset_from)
    if q.offset_to is not None:
        clauses.append('"offset" <= ?')
        args.append(q.offset_to)
    if q.header is not None or q.header_value is not None:
        if all(t is None or _literal_safe(t) for t in (q.header, q.header_value)):
            # the stored text is json.dumps of [[name, value], ...]: for text JSON writes as is,
            # one regular expression over it is exact, and far cheaper than parsing every row's JSON
            clauses.append("headers IS NOT NULL AND regexp_matches(headers, ?)")
            args.append(_header_pattern(q.header, q.header_value))
            return _rest(clauses, args, q)
        test = []
        if q.header is not None:
            test.append("h[1] = ?")
            args.append(q.header)
        if q.header_value is not None:
            test.append("contains(h[2], ?)")
            args.append(q.header_value)
        clauses.append("headers IS NOT NULL AND len(list_filter(from_json(headers, '[[\"VARCHAR\"]]'), "
                       f"lambda h: {' AND '.join(test)})) > 0")
    return _rest(clauses, args, q)


_RE2_SPECIAL = set(r"\.+*?()|[]{}^$-#&~")
# inside a JSON string: any character but a quote or backslash, or an escape pair
_JSON_CHARS = r'(?:[^"\\]|\\.)*'


def _re2(text: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _header_pattern(name: str | None, value: str | None) -> str:
    """A pattern over the stored headers text matching a header with this name (exactly) whose
    value contains `value` (both safe literals: no quote, backslash or control character)."""
    head = r'\["' + (_re2(name) if name is not None else _JSON_CHARS) + '", '
    if value is None:
        return head
    return head + '"' + _JSON_CHARS + _re2(value)


def _rest(clauses: list[str], args: list[Any], q: RecordQuery) -> tuple[str, list[Any]]:
    if q.value is not None:
        if is_json_path(q.value):
            eq = parse_json_path(q.value)
            if eq.last_name is not None and _literal_safe(eq.last_name):
                clauses.append("contains(value_excerpt, ?)")
                args.append(f'"{eq.last_name}"')
            if isinstance(eq.value, str) and _literal_safe(eq.value):
                clauses.append("contains(value_excerpt, ?)")
                args.append(eq.value)
            clauses.append(_json_test(eq, args))
        else:
            clauses.append("contains(value_excerpt, ?)")
            args.append(q.value)
    return (" AND ".join(clauses) or "true"), args


def _json_test(eq: JsonPathEq, args: list[Any]) -> str:
    # json_valid first: an excerpt cut at its bound, or a binary value, is no JSON and must not fail the query
    v = eq.value
    if v is None:
        args.append(eq.path)
        return "CASE WHEN json_valid(value_excerpt) THEN json_type(value_excerpt, ?) = 'NULL' ELSE false END"
    if isinstance(v, bool):
        args += [eq.path, eq.path, "true" if v else "false"]
        return ("CASE WHEN json_valid(value_excerpt) THEN json_type(value_excerpt, ?) = 'BOOLEAN' "
                "AND json_extract_string(value_excerpt, ?) = ? ELSE false END")
    if isinstance(v, (int, float)):
        args += [eq.path, eq.path, float(v)]
        return ("CASE WHEN json_valid(value_excerpt) THEN json_type(value_excerpt, ?) IN ('BIGINT', 'UBIGINT', "
                "'DOUBLE') AND TRY_CAST(json_extract_string(value_excerpt, ?) AS DOUBLE) = ? ELSE false END")
    args += [eq.path, eq.path, v]
    return ("CASE WHEN json_valid(value_excerpt) THEN json_type(value_excerpt, ?) = 'VARCHAR' "
            "AND json_extract_string(value_excerpt, ?) = ? ELSE false END")


_RESULT_COLUMNS = """cluster, topic, "partition", "offset", "key", "timestamp", event_type, event_id, value_size,
       coalesce(is_dead_letter, false) AS is_dead_letter, trace_id, left(value_excerpt, 240) AS value_preview"""


def search(con: duckdb.DuckDBPyConnection, window: Window, q: RecordQuery, *, page: int = 0,
           page_size: int = PAGE_SIZE) -> pd.DataFrame:
    """One page of the records matching `q` in the window, newest first (ties by position)."""
    if page < 0 or page_size < 1:
        raise SearchError("a page is a number from 1")
    where, args = _where(window, q)
    sql = (f"SELECT {_RESULT_COLUMNS} FROM records WHERE {where} "  # noqa: S608 (constant fragments, values bound)
           'ORDER BY "timestamp" DESC, topic, "partition", "offset" DESC LIMIT ? OFFSET ?')
    return con.execute(sql, [*args, page_size, page * page_size]).df()


def count(con: duckdb.DuckDBPyConnection, window: Window, q: RecordQuery) -> int:
    """How many records match `q` in the window."""
    where, args = _where(window, q)
    return int(con.execute(f"SELECT count(*) FROM records WHERE {where}", args).fetchone()[0])  # noqa: S608


def over_time(con: duckdb.DuckDBPyConnection, window: Window, q: RecordQuery, *, bucket: timedelta) -> pd.DataFrame:
    """Matches per time bucket and topic (bucket, topic, records): the chart over the results,
    and their count (its sum) in the same scan."""
    where, args = _where(window, q)
    sql = ('SELECT time_bucket(to_microseconds(?), "timestamp") AS bucket, topic, count(*) AS records '  # noqa: S608
           f"FROM records WHERE {where} GROUP BY ALL ORDER BY bucket, topic")
    return con.execute(sql, [int(bucket / timedelta(microseconds=1)), *args]).df()


def topics(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every topic the store holds records of, by name."""
    return [r[0] for r in con.execute("SELECT DISTINCT topic FROM records ORDER BY topic").fetchall()]


def clusters(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("SELECT DISTINCT cluster FROM records ORDER BY cluster").fetchall()]


# ---------------------------------------------------------------------------------------------
# One record


def record_id(topic: str, partition: object, offset: object) -> str:
    """'topic/partition/offset', the `record=` link param (topic names hold no '/')."""
    return f"{topic}/{int(partition)}/{int(offset)}"  # type: ignore[call-overload]


def parse_record_id(text: str) -> tuple[str, int, int]:
    """The inverse of record_id; SearchError when it is not one."""
    try:
        topic, partition, offset = text.rsplit("/", 2)
        return topic, int(partition), int(offset)
    except ValueError:
        raise SearchError(f"{text[:60]!r} names no record (expected topic/partition/offset)") from None


_RECORD = """
SELECT * FROM (
    SELECT *, count(*) OVER () AS generations FROM records
    WHERE topic = $topic AND "partition" = $partition AND "offset" = $offset
      AND cluster = (SELECT min(cluster) FROM records WHERE topic = $topic AND "partition" = $partition
                     AND "offset" = $offset AND ($cluster::VARCHAR IS NULL OR cluster = $cluster)))
WHERE ($since::TIMESTAMP IS NULL OR tapped_at >= $since) AND ($until::TIMESTAMP IS NULL OR tapped_at < $until)
ORDER BY tapped_at DESC LIMIT 1 OFFSET $nth
"""


def record(con: duckdb.DuckDBPyConnection, topic: str, partition: int, offset: int, *,
           cluster: str | None = None, nth: int = 0, at: datetime | None = None) -> dict[str, Any] | None:
    """Every stored column of the record at that position (the first cluster's, unless named).

    A topic deleted and created again holds a record of each of its generations at a position
    (docs/architecture.md#topics-created-again): ``nth`` counts them from the newest (0), and
    ``generations`` says how many there are. ``at`` (a processing's time) picks the record of the
    generation the topic was in then; None when the store holds none of that generation."""
    since = until = None
    if at is not None:
        since, until = generation_at(con, topic, pd.Timestamp(at).to_pydatetime())
    df = con.execute(_RECORD, {"topic": topic, "partition": partition, "offset": offset, "cluster": cluster,
                               "since": since, "until": until, "nth": max(nth, 0)}).df()
    if df.empty:
        return None
    return {k: (None if _na(v) else v) for k, v in df.iloc[0].to_dict().items()}


def tapped_times(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> list[datetime]:
    """When each record at ``rec``'s position (in its cluster) was tapped, newest first: one per
    generation of a topic deleted and created again."""
    rows = con.execute('SELECT tapped_at FROM records WHERE topic = ? AND "partition" = ? AND "offset" = ? '
                       "AND cluster IS NOT DISTINCT FROM ? ORDER BY tapped_at DESC",
                       [rec["topic"], int(rec["partition"]), int(rec["offset"]), rec.get("cluster")]).fetchall()
    return [r[0] for r in rows]


def nth(con: duckdb.DuckDBPyConnection, rec: dict[str, Any] | None) -> int:
    """Where ``rec`` stands among the records at its position, newest first: 0 but for an older
    generation of a topic created again (the Records page's ``generation``)."""
    if rec is None or int(rec.get("generations") or 1) < 2:
        return 0
    return nth_at(con, rec["topic"], rec["partition"], rec["offset"], rec.get("tapped_at"), cluster=rec.get("cluster"))


def nth_at(con: duckdb.DuckDBPyConnection, topic: str, partition: int, offset: int, tapped_at: object, *,
           cluster: str | None = None) -> int:
    """:func:`nth` of the record at this position (in ``cluster``, or any) tapped at ``tapped_at``:
    how many at its position were tapped after it (0: the newest, as for every topic never
    created again)."""
    if _na(tapped_at):
        return 0
    return con.execute('SELECT count(*) FROM records WHERE topic = ? AND "partition" = ? AND "offset" = ? '
                       "AND (?::VARCHAR IS NULL OR cluster = ?) AND tapped_at > ?",
                       [topic, int(partition), int(offset), cluster, cluster,
                        pd.Timestamp(tapped_at).to_pydatetime()]).fetchall()[0][0]


def recreated_topics(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The topics deleted and created again under a tap (a record at one of their positions may
    have an older one beside it)."""
    query = f"SELECT DISTINCT topic FROM {GENERATIONS}"  # noqa: S608 (a constant table name)
    return {r[0] for r in con.execute(for_store(con, query)).fetchall()}


def _na(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _since(rec: dict[str, Any]) -> datetime:
    return pd.Timestamp(rec.get("timestamp") or rec.get("tapped_at")).to_pydatetime() - CLOCK_SLACK


_GENERATION = f"""
WITH gens AS ({GENERATION_SPANS})
SELECT nullif(since, '-infinity'::TIMESTAMP), nullif(until, 'infinity'::TIMESTAMP) FROM gens
WHERE topic = $topic AND $at >= since AND $at < until
"""  # noqa: S608 (constant SQL)


def generation(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """When the record's topic generation began and ended (None: open), by when it was tapped;
    (None, None) for a topic never created again."""
    if _na(rec.get("tapped_at")):  # not from a tap (a hostile or hand-made row): one generation
        return None, None
    return generation_at(con, rec["topic"], pd.Timestamp(rec["tapped_at"]).to_pydatetime())


def generation_at(con: duckdb.DuckDBPyConnection, topic: str, at: datetime) -> tuple[datetime | None, datetime | None]:
    """The generation ``topic`` was in at ``at``: when it began and ended (None: open)."""
    rows = con.execute(for_store(con, _GENERATION), {"topic": topic, "at": at}).fetchall()
    return rows[0] if rows else (None, None)


_PROCESSINGS = r"""
WITH copies AS (  -- its retry-topic and dead-letter copies: processing a copy is processing it
    SELECT topic, "partition", "offset" FROM records
    WHERE dlt_origin_topic = $topic AND dlt_origin_partition = $partition AND dlt_origin_offset = $offset
      AND "timestamp" >= $since
)
SELECT p.grp AS "group", p.start_time, p.end_time, p.duration_us, coalesce(p.service_instance, p.client_id) AS instance,
       p.service, p.topic AS read_from, p."partition" AS read_partition, p."offset" AS read_offset, p.operation_type,
       p.status_code IS NOT DISTINCT FROM 2 AS failed, p.delivery_attempt, p.trace_id, p.span_id, p.effects
FROM processings p
WHERE p.start_time >= $since AND p.start_time < $until  -- the record's topic generation
  AND ((p.topic = $topic AND p."partition" = $partition AND p."offset" = $offset)
       OR (p.topic, p."partition", p."offset") IN (SELECT (topic, "partition", "offset") FROM copies))
ORDER BY p.grp, p.start_time, p.span_id
"""


def processings(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> pd.DataFrame:
    """Every processing of the record (and of its retry or dead-letter copies) by every group:
    group, time, instance, outcome, and its side effects (a list of {effect, target, service,
    name, trace_id, span_id}), ordered by group and time."""
    begun, ended = generation(con, rec)
    since = max(_since(rec), begun) if begun else _since(rec)
    df = con.execute(_PROCESSINGS, {"topic": rec["topic"], "partition": int(rec["partition"]),
                                    "offset": int(rec["offset"]), "since": since,
                                    "until": ended or datetime.max}).df()
    df["effects"] = [[dict(e) for e in as_list(v)] for v in df["effects"]]
    return df


_COPIES = """
SELECT topic, "partition", "offset", "timestamp", dlt_family, coalesce(is_dead_letter, false) AS is_dead_letter,
       dlt_origin_group, dlt_exception_class, dlt_exception_message
FROM records
WHERE dlt_origin_topic = ? AND dlt_origin_partition = ? AND dlt_origin_offset = ? AND "timestamp" >= ?
ORDER BY "timestamp", topic, "offset"
"""


def dead_letter_copies(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> pd.DataFrame:
    """Copies of the record on dead-letter and retry topics (by their origin headers)."""
    return con.execute(_COPIES, [rec["topic"], int(rec["partition"]), int(rec["offset"]), _since(rec)]).df()


_REPUBLISHED = """
SELECT cluster, topic, "partition", "offset", "timestamp", "key", value_hash = $hash AS same_payload, tapped_at
FROM records
WHERE "timestamp" >= $start AND "timestamp" < $end AND topic = $topic AND event_id = $event_id
  AND ($cluster::VARCHAR IS NULL OR cluster = $cluster)  -- another cluster's topic is another log
  -- not the record itself; of a topic created again, the other generations' records at its position are others
  AND NOT ("partition" = $partition AND "offset" = $offset
           AND coalesce(tapped_at >= $gen_since, true) AND coalesce(tapped_at < $gen_until, true))
ORDER BY "timestamp", "partition", "offset"
"""


def duplicate_publications(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> pd.DataFrame:
    """Other records of the same event id on the same topic (of its cluster) within REPUBLISH_SPAN of it (the
    same payload: a duplicate publication; another payload: an id collision), the records at its
    position in the other generations of a topic created again among them. Event ids are
    random, so no zone map narrows an unbounded look-up: the span keeps it to a slice."""
    if not rec.get("event_id"):
        return pd.DataFrame(columns=["cluster", "topic", "partition", "offset", "timestamp", "key", "same_payload",
                                     "tapped_at"])
    at = _since(rec) + CLOCK_SLACK
    begun, ended = generation(con, rec)
    return con.execute(_REPUBLISHED, {"hash": rec.get("value_hash"), "start": at - REPUBLISH_SPAN,
                                      "end": at + REPUBLISH_SPAN, "topic": rec["topic"], "event_id": rec["event_id"],
                                      "cluster": rec.get("cluster"),
                                      "partition": int(rec["partition"]), "offset": int(rec["offset"]),
                                      "gen_since": begun, "gen_until": ended}).df()


_PRODUCED = """
SELECT r.topic, r."partition", r."offset", r."timestamp", r."key", r.headers, r.value_excerpt, r.event_type,
       r.event_id, r.trace_id, r.parent_span_id
FROM records r
WHERE r."timestamp" >= ? AND r.trace_id IN (SELECT trace_id FROM _produced_by)
  AND (r.trace_id, r.parent_span_id) IN (SELECT (trace_id, span_id) FROM _produced_by)
ORDER BY r."timestamp", r.topic, r."partition", r."offset"
"""


def produced_by(con: duckdb.DuckDBPyConnection, spans: list[tuple[str, str]], *, since: datetime) -> pd.DataFrame:
    """The records whose traceparent names one of these PRODUCER spans (trace id, span id):
    the events a processing published, e.g. the two invoices of a non-idempotent consumer."""
    cols = ["topic", "partition", "offset", "timestamp", "key", "headers", "value_excerpt", "event_type",
            "event_id", "trace_id", "parent_span_id"]
    if not spans:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(spans, columns=["trace_id", "span_id"]).drop_duplicates()
    con.register("_produced_by", frame)
    try:
        return con.execute(_PRODUCED, [since - CLOCK_SLACK]).df()
    finally:
        con.unregister("_produced_by")


def effect_spans(effects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(trace id, span id) of the events among side effects."""
    return [(e["trace_id"], e["span_id"]) for e in effects
            if e.get("effect") == "event" and e.get("trace_id") and e.get("span_id")]


_AT_POSITIONS = f"""
WITH gens AS ({GENERATION_SPANS}),
asked AS (  -- each position's topic generation at the time asked (unbounded for a topic never created again)
    SELECT p.*, g.since, g.until FROM _positions p
    LEFT JOIN gens g ON g.topic = p.topic AND p."at" >= g.since AND p."at" < g.until
)
SELECT p.i, r."key", r.headers, r.value_excerpt
FROM records r JOIN asked p
  ON p.topic = r.topic AND p."partition" = r."partition" AND p."offset" = r."offset"
WHERE r."timestamp" >= ? AND r."timestamp" < ?
  AND (p.since IS NULL OR r.tapped_at >= p.since) AND (p.until IS NULL OR r.tapped_at < p.until)
ORDER BY p.i, r.tapped_at
"""  # noqa: S608 (constant SQL)


def identities(con: duckdb.DuckDBPyConnection, positions: list[tuple[str, int, int, datetime | None]], *,
               window: Window) -> list[dict[str, Any] | None]:
    """Who the records at these (topic, partition, offset, processed at) are about, in order:
    {key, subject, ids}, or None where the tap holds no record; for evidence. Of a topic deleted
    and created again, the record of the generation it was in when processed (the newest when the
    time is None). Records produced up to a day before the window are looked at (a redelivery
    comes after its record), so zone maps keep the look-up to that slice."""
    from dashboard.analyses.identity import identity

    out: list[dict[str, Any] | None] = [None] * len(positions)
    if not positions:
        return out
    frame = pd.DataFrame({"i": range(len(positions)), "topic": [p[0] for p in positions],
                          "partition": [int(p[1]) for p in positions], "offset": [int(p[2]) for p in positions],
                          "at": pd.to_datetime([p[3] for p in positions])})
    con.register("_positions", frame)
    try:
        rows = con.execute(for_store(con, _AT_POSITIONS), [window.start - timedelta(days=1), window.end]).fetchall()
    finally:
        con.unregister("_positions")
    for i, key, headers, excerpt in rows:  # (the newest of a position's records last)
        who = identity(key, headers, excerpt)
        out[i] = {"key": who.key, "subject": who.subject, "ids": who.ids}
    return out
