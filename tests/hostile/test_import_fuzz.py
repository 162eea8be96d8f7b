"""Property-based fuzzing of `seamwatch import`'s line parsers (records, offset snapshots, OTLP JSON).

The properties: no exception escapes, every line is stored or rejected with a one-line reason,
and the counts add up (rows stored + lines rejected = lines; for OTLP, per line, spans stored +
spans rejected = spans, or the whole line is one rejection).
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.importer import import_file
from collectors.store import Store

TRICKY_TEXT = ["", " ", "x\ud800", "\udfff", "é", "\u2028", "0", "-1", "2.7", "1e400", "NaN", "[]", "{}",
               "2026-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "create", "log_append", "\x00"]
TRICKY_INT = [0, -1, 2**31 - 1, 2**31, 2**40, 2**63 - 1, 2**63, 2**70, -(2**63) - 1]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(TRICKY_INT),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.sampled_from(TRICKY_TEXT),
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, json_values)


def optional(name: str, valid: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), field(valid).map(lambda v: {name: v}))


record_docs = st.builds(
    lambda base, *extras: {k: v for part in (base, *extras) for k, v in part.items()},
    st.fixed_dictionaries({"topic": field(st.sampled_from(["orders", "payments"])),
                           "partition": field(st.integers(0, 12)),
                           "offset": field(st.integers(0, 2**63 - 1))}),
    optional("key", st.text(max_size=6)),
    optional("value", json_values),
    optional("value_b64", st.sampled_from(["aGk=", "%%%", ""])),
    optional("headers", st.lists(st.tuples(st.sampled_from(["traceparent", "kafka_deliveryAttempt", "h\ud800"]),
                                           st.one_of(st.none(), st.text(max_size=6),
                                                     st.sampled_from([str(2**40), "3", {"b64": "AAAAAw=="}]))),
                                 max_size=3).map(lambda hs: [list(h) for h in hs])),
    optional("timestamp", st.one_of(st.integers(0, 2**50), st.sampled_from(TRICKY_TEXT))),
    optional("timestamp_type", st.sampled_from(["create", "log_append", "CreateTime", "other"])),
    optional("cluster", st.sampled_from(["prod", ["x"], ""])),
)

offset_docs = st.one_of(
    st.builds(lambda base, *extras: {k: v for part in (base, *extras) for k, v in part.items()},
              st.fixed_dictionaries({"group_id": field(st.just("g")), "topic": field(st.just("orders")),
                                     "partition": field(st.integers(0, 5)),
                                     "polled_at": field(st.just("2026-01-01T00:00:00Z"))}),
              optional("committed_offset", st.integers(-1, 10**6)), optional("high_watermark", st.integers(0, 10**6)),
              optional("state", st.sampled_from(["Stable", "Empty"])), optional("members", st.integers(0, 5)),
              optional("client_id", st.just("c"))),
    st.builds(lambda base, *extras: {k: v for part in (base, *extras) for k, v in part.items()},
              st.fixed_dictionaries({"topic": field(st.just("orders")), "partition": field(st.integers(0, 5)),
                                     "high_watermark": field(st.integers(0, 10**6)),
                                     "observed_at": field(st.just("2026-01-01T00:00:00Z"))}),
              optional("low_watermark", st.integers(0, 10**6))),
)

junk_lines = st.one_of(st.binary(max_size=40), st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
                       st.sampled_from([b"[" * 3000 + b"]" * 3000, b"null", b"[1]", b'"text"', b"{"]))


def _line(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


def lines_of(docs: st.SearchStrategy[Any]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(st.one_of(docs.map(_line), docs.map(_line), junk_lines), min_size=1, max_size=12).map(
        lambda ls: [line.replace(b"\n", b" ") for line in ls])


_serial = itertools.count()
pytestmark = pytest.mark.slow  # 60 examples a property, each an import that commits: ~10 s each on 2 busy cores


@pytest.fixture(scope="module")
def fuzz_store() -> Iterator[Store]:
    # in memory when the system has a tmpfs there: every example commits, and fsync dominates otherwise
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm) as tmp, Store(Path(tmp) / "fuzz.duckdb") as store:
        store.tmp = Path(tmp)  # type: ignore[attr-defined]
        yield store


def _import(store: Store, first: bytes, lines: list[bytes]) -> tuple[Any, list[bytes], list[tuple[str, str]]]:
    """Import a file of ``first`` (a line that tells the kind) and ``lines``; the file's lines and its errors."""
    n = next(_serial)
    path = store.tmp / f"fuzz{n}.jsonl"  # type: ignore[attr-defined]
    body = [first, *lines]
    path.write_bytes(b"\n".join(body) + b"\n")
    result = import_file(store, path)  # the property: this never raises
    errors = store.cursor().execute(
        "SELECT location, reason FROM ingest_errors WHERE source = ?", [f"file:{path.name}"]).fetchall()
    return result, body, errors


def _count(store: Store, *tables: str) -> int:
    return sum(store.cursor().execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)  # noqa: S608


def _check_reasons(errors: list[tuple[str, str]]) -> None:
    for _, reason in errors:
        assert reason and "\n" not in reason and "Traceback" not in reason


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


def _line_level(store: Store, table: str, first: bytes, lines: list[bytes]) -> None:
    before = _count(store, table)
    result, body, errors = _import(store, first, lines)
    nonblank = [i for i, line in enumerate(body, 1) if line.strip()]
    stored = _count(store, table) - before
    locations = [loc for loc, _ in errors]
    assert len(locations) == len(set(locations))  # one row per bad line
    assert stored + len(errors) == len(nonblank)
    assert sum(result.rows.values()) == stored and result.rejected == len(errors)
    assert {int(loc.rsplit(":", 1)[1]) for loc in locations} <= set(nonblank)
    _check_reasons(errors)


@FUZZ
@given(lines=lines_of(record_docs))
def test_record_lines_are_stored_or_rejected(fuzz_store: Store, lines: list[bytes]) -> None:
    first = _line({"topic": f"first-{next(_serial)}", "partition": 0, "offset": 0})
    _line_level(fuzz_store, "records", first, lines)


@FUZZ
@given(lines=lines_of(offset_docs))
def test_offset_lines_are_stored_or_rejected(fuzz_store: Store, lines: list[bytes]) -> None:
    first = _line({"group_id": f"first-{next(_serial)}", "topic": "t", "partition": 0,
                   "polled_at": "2026-01-01T00:00:00Z"})
    before = _count(fuzz_store, "group_offsets", "topic_offsets")
    result, body, errors = _import(fuzz_store, first, lines)
    stored = _count(fuzz_store, "group_offsets", "topic_offsets") - before
    assert stored + len(errors) == len([line for line in body if line.strip()])
    assert sum(result.rows.values()) == stored and result.rejected == len(errors)
    _check_reasons(errors)


span_fields = st.fixed_dictionaries({}, optional={
    "name": field(st.sampled_from(["GET /", "send", "x\ud800"])),
    "kind": field(st.sampled_from([1, 2, 5, "SPAN_KIND_SERVER", 9])),
    "startTimeUnixNano": field(st.sampled_from(["1764230400000000000", 1764230400000000000, "0", "99e99"])),
    "endTimeUnixNano": field(st.sampled_from(["1764230400100000000", "1"])),
    "flags": field(st.sampled_from([0, 256, 2**40])),
    "parentSpanId": field(st.sampled_from(["", "eee19b7ec3c1b174", "zz"])),
    "attributes": field(st.lists(st.fixed_dictionaries({"key": field(st.sampled_from(["a", "k\ud800"])),
                                                        "value": field(st.fixed_dictionaries(
                                                            {"stringValue": field(st.text(max_size=4))}))}),
                                 max_size=2)),
    "status": field(st.fixed_dictionaries({"code": field(st.sampled_from([0, 2, "STATUS_CODE_ERROR", 7]))})),
})
otlp_lines = st.lists(st.tuples(st.lists(span_fields, min_size=1, max_size=4),
                                field(st.sampled_from(["web", "svc\ud800", ""])),
                                st.booleans()),
                      min_size=1, max_size=6)


@FUZZ
@given(lines=otlp_lines)
def test_otlp_lines_are_stored_or_rejected_span_by_span(fuzz_store: Store, lines: list[Any]) -> None:
    serial = next(_serial)
    encoded = []
    for number, (spans, service, corrupt) in enumerate(lines, 2):
        trace = f"{serial:016x}{number:016x}"  # the line a stored span came from
        sps = [{**sp, "traceId": trace, "spanId": f"{i + 1:016x}"} for i, sp in enumerate(spans)]
        doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name",
                                                               "value": {"stringValue": service}}]},
                                  "scopeSpans": [{"spans": sps}]}]}
        raw = _line(doc)
        encoded.append(raw[: len(raw) // 2] if corrupt and number % 3 == 0 else raw)
    first = _line({"resourceSpans": []})
    result, _, errors = _import(fuzz_store, first, encoded)
    _check_reasons(errors)
    stored = dict(fuzz_store.cursor().execute(
        "SELECT substr(trace_id, 17), count(*) FROM spans WHERE trace_id LIKE ? GROUP BY 1",
        [f"{serial:016x}%"]).fetchall())
    per_line: dict[int, int] = {}
    for loc, _ in errors:
        number = int(loc.rsplit(":", 1)[1])
        per_line[number] = per_line.get(number, 0) + 1
    for number, (spans, _, _) in enumerate(lines, 2):
        kept = stored.get(f"{number:016x}", 0)
        rejected = per_line.get(number, 0)
        assert kept + rejected == len(spans) or (kept == 0 and rejected == 1), (number, kept, rejected)
    assert result.rows.get("spans", 0) == sum(stored.values())
