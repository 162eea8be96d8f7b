"""The vectorised half of the tap's normalize: one DuckDB query over a whole batch.

Input: the Arrow table ``raw``, one row per record with text already decoded (``key_text``,
``vtext`` NULL when the value is not UTF-8, ``headers`` as normalize's JSON text), the last
value of each header normalize reads as a column ``h:<name>``, and ``slow_h`` when a record
carries a header only the reference path decodes. The query computes the columns of
collectors.normalize.records.record_row that need computing (the others pass through in
Arrow, never copied) for the records it can reproduce exactly, and marks every other one
``_slow`` for the reference path. Every identifier and literal here is a constant of this
module, never input.
"""

from __future__ import annotations

from collectors.normalize import envelope

# Headers whose presence sends a record to the reference path (CloudEvents binary mode,
# delivery attempts, dead-letter families): rare, and their decoding lives in normalize.
SLOW_HEADERS = ("ce_id", "ce_type", "kafka_deliveryAttempt", "delivery_attempt", "retry_topic-attempts",
                "x-delivery-attempt", "kafka_dlt-original-topic", "kafka_original-topic", "x-original-topic",
                "__connect.errors.topic")
HEADER_FIELDS: dict[str, tuple[str, ...]] = dict(envelope.HEADER_FIELDS)  # the same rules as normalize
VALUE_FIELDS: dict[str, tuple[str, ...]] = dict(envelope.DEFAULT_FIELDS)
STRING_COLUMNS = ("event_id", "event_type", "event_version", "event_source", "causation_id", "correlation_id")
PIVOT_HEADERS = tuple(sorted({"traceparent", "content-type", *(n for ns in HEADER_FIELDS.values() for n in ns)}))
RELEVANT_HEADERS = PIVOT_HEADERS + SLOW_HEADERS

_TRACEPARENT = r"^[0-9a-fA-F]{2}-[0-9a-fA-F]{32}-[0-9a-fA-F]{16}-[0-9a-fA-F]{2}$"
# ISO 8601 forms where Python's datetime.fromisoformat and DuckDB agree exactly
_ISO = (r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
        r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$")



def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _col(name: str) -> str:
    """A column alias for a header name (names may hold '-', '.', capitals)."""
    return '"h:' + name.replace('"', "") + '"'


def build() -> str:
    paths: list[str] = []
    slices: dict[str, list[int]] = {}
    for column, names in VALUE_FIELDS.items():
        slices[column] = [len(paths) + i + 1 for i in range(len(names))]
        paths.extend('$."' + n + '"' for n in names)

    # first non-null JSON value per envelope column, as JSON text ('null' counts as absent)
    def first(idx: list[int]) -> str:
        return "coalesce(" + ", ".join(f"nullif(jv[{i}], 'null')" for i in idx) + ")"

    # the objects an envelope may nest in: a record whose top level names no event id or type and
    # holds one goes to the reference path (which reads the envelope inside)
    nests = [len(paths) + i + 1 for i in range(len(envelope.CONTAINERS))]
    paths.extend('$."' + n + '"' for n in envelope.CONTAINERS)
    chosen = ", ".join(f"{first(idx)} AS {c}_j" for c, idx in slices.items())
    nested = " OR ".join(f"coalesce(starts_with(jv[{i}], '{{'), false)" for i in nests)
    # how each chosen value reads: s(tring) i(nteger) n(umber) b(oolean) o(ther)
    # JSON numbers hold only - + . e E and digits; NaN and Infinity (which json accepts) hold n/N/I
    kinds = ", ".join(
        f"CASE WHEN {c}_j IS NULL THEN NULL WHEN starts_with({c}_j, '\"') THEN 's' "
        f"WHEN {c}_j IN ('true', 'false') THEN 'b' "
        f"WHEN {c}_j[1] NOT IN ('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') "
        f"OR contains({c}_j, 'n') OR contains({c}_j, 'N') OR contains({c}_j, 'I') THEN 'o' "
        f"WHEN contains({c}_j, '.') OR contains({c}_j, 'e') OR contains({c}_j, 'E') THEN 'n' ELSE 'i' END AS {c}_k"
        for c in slices)
    # a JSON string without escapes is its text between the quotes (no quote inside: it would be escaped)
    def unescape(c: str) -> str:
        return f"CASE WHEN contains({c}_j, '\\') THEN CAST({c}_j AS JSON) ->> '$' ELSE trim({c}_j, '\"') END"

    strings = ", ".join(f"CASE {c}_k WHEN 's' THEN {unescape(c)} WHEN 'i' THEN {c}_j END AS {c}_v"
                        for c in STRING_COLUMNS)
    type_slow = " OR ".join(f"coalesce({c}_k NOT IN ('s', 'i'), false)" for c in STRING_COLUMNS)
    # year 9999 with an offset can pass 9999-12-31 in UTC: normalize counts that as unreadable
    time_slow = (f"CASE event_time_k WHEN 's' THEN NOT regexp_full_match(et_s, "
                 f"{_q(_ISO)}) OR starts_with(et_s, '9999') WHEN 'i' THEN NOT (d >= 0 AND d < 1e18) WHEN 'n' THEN NOT (d >= 0 AND d < 1e18) "
                 "WHEN 'b' THEN false WHEN 'o' THEN true ELSE false END")
    # parse_time's float arithmetic step by step, so the microsecond comes out the same
    time_val = ("CASE event_time_k WHEN 's' THEN CAST(trunc((epoch_us(TRY_CAST(et_s AS TIMESTAMPTZ))::DOUBLE / 1000000.0) * 1000000.0) AS BIGINT) "
                "WHEN 'b' THEN NULL ELSE CAST(CASE WHEN NOT (d >= 0 AND d < 1e18) THEN NULL "
                "WHEN d > 1e17 THEN trunc(d / 1000) WHEN d > 1e14 THEN trunc(d) WHEN d > 1e11 THEN trunc(d * 1000) "
                "ELSE trunc(d * 1000000) END AS BIGINT) END")
    fills = {}
    for c in STRING_COLUMNS:
        names = HEADER_FIELDS.get(c, ())
        fills[c] = f"coalesce({c}_v, {', '.join(_col(n) for n in names)})" if names else f"{c}_v"
    # starts_with and ltrim work on bytes; vtext[1] would decode UTF-8 (costly on every record)
    candidate = (f"vtext IS NOT NULL AND value_size BETWEEN 1 AND {envelope.MAX_JSON_BYTES} "
                 "AND (starts_with(vtext, '{') OR starts_with(vtext, ' ') OR starts_with(vtext, chr(10)) "
                 "OR starts_with(vtext, chr(9)))")
    return f"""
WITH base AS (
  SELECT *, {_col('traceparent')} AS tp, lower({_col('content-type')}) AS ct, ({candidate}) AS candidate
  FROM raw
), js AS (
  -- one parse: json_extract fails on what json_valid rejects, and try() makes that NULL
  SELECT *, candidate AND jx IS NOT NULL AS valid
  FROM (SELECT *, CASE WHEN candidate THEN try(CAST(json_extract(vtext, [{', '.join(_q(p) for p in paths)}])
                                                 AS VARCHAR[])) END AS jx FROM base)
), flags AS (
  -- a candidate starts with '{{' or blanks: valid and '{{' after the blanks means an object
  SELECT *, coalesce(valid AND CASE WHEN starts_with(vtext, '{{') THEN true
                                     ELSE starts_with(ltrim(vtext, ' ' || chr(10) || chr(9) || chr(13)), '{{') END,
                     false) AS doc_ok,
         candidate AND NOT valid AS json_unsure,
         regexp_full_match(tp, {_q(_TRACEPARENT)}) AS tp_form
  FROM js
), tp AS (
  SELECT *, coalesce(tp_form AND tp_trace <> repeat('0', 32) AND tp_span <> repeat('0', 16), false) AS tp_ok
  FROM (SELECT *, CASE WHEN tp_form THEN lower(split_part(tp, '-', 2)) END AS tp_trace,
               CASE WHEN tp_form THEN lower(split_part(tp, '-', 3)) END AS tp_span FROM flags)
), fields AS (
  SELECT *, CASE WHEN doc_ok THEN jx END AS jv
  FROM tp
), picked AS (
  SELECT *, {chosen} FROM fields
), kinded AS (
  SELECT *, {kinds} FROM picked
), typed AS (
  SELECT *, {strings},
         CASE WHEN event_time_k IN ('i', 'n') THEN TRY_CAST(event_time_j AS DOUBLE) END AS d,
         CASE WHEN event_time_k = 's' THEN {unescape('event_time')} END AS et_s
  FROM kinded
)
SELECT _idx,
  coalesce(force_slow OR slow_h
   OR coalesce(starts_with(ct, 'application/cloudevents'), false)
   OR coalesce(tp <> '' AND NOT tp_form, false)
   OR json_unsure
   -- trailing commas: DuckDB reads them, Python does not. (Raw control characters need no
   -- check here: json_extract rejects them as Python does, so they are json_unsure already.)
   OR (CASE WHEN doc_ok THEN (regexp_matches(vtext, ',\\s*[\\]}}]')
                   OR {type_slow} OR {time_slow}
                   OR (event_id_j IS NULL AND event_type_j IS NULL AND ({nested}))) ELSE false END)
  , true) AS _slow,  -- unknown goes to the reference path
  CASE WHEN ts_ms >= 0 THEN make_timestamp(ts_ms * 1000) END AS "timestamp",
  CASE ts_type WHEN 1 THEN 'create' WHEN 2 THEN 'log_append' ELSE 'unknown' END AS timestamp_type,
  CASE WHEN tp_ok THEN tp_trace END AS trace_id,
  CASE WHEN tp_ok THEN tp_span END AS parent_span_id,
  CASE WHEN doc_ok AND (event_id_v IS NOT NULL OR event_type_v IS NOT NULL) THEN 'json' ELSE 'none' END AS envelope,
  {fills['event_id']} AS event_id,
  {fills['event_type']} AS event_type,
  {fills['event_version']} AS event_version,
  CASE WHEN event_time_j IS NULL THEN NULL ELSE make_timestamp({time_val}) END AS event_time,
  {fills['event_source']} AS event_source,
  {fills['causation_id']} AS causation_id,
  {fills['correlation_id']} AS correlation_id,
  list_contains($dlt_topics, topic) AS is_dead_letter,
  CASE WHEN list_contains($dlt_topics, topic) THEN 'topic-pattern' END AS dlt_family
FROM typed
"""  # noqa: S608


SQL = build()
