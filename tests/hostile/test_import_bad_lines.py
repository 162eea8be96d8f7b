"""`seamwatch import` under hostile lines: one bad line costs one ingest_errors row, never the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectors.importer import import_file
from collectors.store import Store
from dashboard.cli import cli


def _record(offset: int, **extra: object) -> str:
    return json.dumps({"topic": "orders", "partition": 0, "offset": offset, "value": {"n": offset}} | extra)


def _errors(store: Store) -> list[tuple[str, str]]:
    return store.cursor().execute("SELECT location, reason FROM ingest_errors ORDER BY location").fetchall()


# Each line alone once aborted the whole file (issue 10, case 12) or was stored lossily (case 14).
BAD_RECORD_LINES = {
    "deep nesting": '{"topic": "orders", "partition": 0, "offset": 900, "value": ' + "[" * 5000 + "]" * 5000 + "}",
    "partition 2^40": _record(901, partition=2**40),
    "delivery attempt 2^40": _record(902, headers=[["kafka_deliveryAttempt", str(2**40)]]),
    "offset 2^70": _record(2**70),
    "surrogate topic": '{"topic": "ord\\ud800ers", "partition": 0, "offset": 903}',
    "surrogate header name": '{"topic": "orders", "partition": 0, "offset": 904, "headers": [["h\\ud800", "v"]]}',
    "float offset": _record(0).replace('"offset": 0', '"offset": 2.7'),
    "cluster list": _record(905, cluster=["x"]),
    "bool partition": _record(906, partition=True),
    "timestamp text": _record(907, timestamp="yesterday"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORD_LINES))
def test_one_bad_record_line_costs_one_error_row(store: Store, tmp_path: Path, case: str) -> None:
    good = [_record(i) for i in range(1, 6)]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join([*good[:2], BAD_RECORD_LINES[case], *good[2:]]) + "\n")
    result = import_file(store, path)
    assert result.rows.get("records") == 5
    assert result.rejected == 1
    errors = _errors(store)
    assert len(errors) == 1 and errors[0][0] == "records.jsonl:3" and errors[0][1]
    assert "\n" not in errors[0][1]
    offsets = [r[0] for r in store.cursor().execute('SELECT "offset" FROM records ORDER BY 1').fetchall()]
    assert offsets == [1, 2, 3, 4, 5]  # 2.7 is not stored as 2, 2^40 not wrapped


def test_reasons_name_the_field(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(BAD_RECORD_LINES[c] for c in ("float offset", "cluster list", "partition 2^40")) + "\n")
    import_file(store, path)
    reasons = [r for _, r in _errors(store)]
    assert "'offset'" in reasons[0] and "2.7" in reasons[0]
    assert "'cluster'" in reasons[1]
    assert "'partition'" in reasons[2]


def _group(**extra: object) -> str:
    doc = {"group_id": "g", "topic": "orders", "partition": 0, "committed_offset": 5, "high_watermark": 9,
           "state": "Stable", "members": 2, "client_id": "c", "polled_at": "2026-01-01T00:00:00Z"}
    return json.dumps(doc | extra)


def _topic(**extra: object) -> str:
    doc = {"topic": "orders", "partition": 0, "low_watermark": 0, "high_watermark": 9,
           "observed_at": "2026-01-01T00:00:00Z"}
    return json.dumps(doc | extra)


def test_bad_offset_snapshot_lines_cost_one_row_each(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "offsets.jsonl"
    lines = [_group(), _group(members="abc"), _group(state={}), _topic(), _topic(low_watermark="abc"),
             _group(committed_offset=1.5), _topic(high_watermark=2**70), _group(partition=2**40)]
    path.write_text("\n".join(lines) + "\n")
    result = import_file(store, path)
    assert result.rows == {"group_offsets": 1, "topic_offsets": 1}
    assert [loc for loc, _ in _errors(store)] == [f"offsets.jsonl:{n}" for n in (2, 3, 5, 6, 7, 8)]


def _otlp(span_name: str = "GET /", service: str = "web", n: int = 1, trace_byte: int = 1) -> str:
    spans = [{"traceId": f"{trace_byte:02x}" * 16, "spanId": f"{i + 1:016x}", "name": span_name,
              "startTimeUnixNano": "1764230400000000000", "endTimeUnixNano": "1764230400100000000"}
             for i in range(n)]
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}]}]})


def test_lone_surrogates_in_spans_cost_one_row_each(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    lines = [_otlp(n=2, trace_byte=1),
             _otlp(span_name="x\ud800", trace_byte=2),
             _otlp(service="svc\ud800", trace_byte=3),
             _otlp(n=1, trace_byte=4)]
    path.write_text("\n".join(lines) + "\n")  # json.dumps writes the surrogate as the \ud800 escape
    result = import_file(store, path)
    assert result.rows == {"spans": 3}
    assert [loc for loc, _ in _errors(store)] == ["spans.jsonl:2", "spans.jsonl:3"]


def test_a_bad_file_never_stops_the_next_one(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join([_record(1), BAD_RECORD_LINES["deep nesting"], _record(2)]) + "\n")
    second = tmp_path / "b.jsonl"
    second.write_text("\n".join([_record(3), BAD_RECORD_LINES["offset 2^70"]]) + "\n")
    db = str(tmp_path / "s.duckdb")
    result = CliRunner().invoke(cli, ["import", str(first), str(second), "--db", db])
    assert result.exit_code == 0, result.output
    assert "a.jsonl: records, 2 records, 1 rejected" in result.output
    assert "b.jsonl: records, 1 records, 1 rejected" in result.output
    with Store(db, read_only=True) as s:
        assert s.counts()["records"] == 3 and s.counts()["ingest_errors"] == 2


def test_otlp_values_are_not_coerced(store: Store, tmp_path: Path) -> None:
    def line(trace_byte: int, **span: object) -> str:
        doc = json.loads(_otlp(trace_byte=trace_byte))
        doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(span)
        return json.dumps(doc)

    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join([
        line(1),
        line(2, flags=2.7),  # once stored as 2
        line(3, startTimeUnixNano=1.7642304e18),  # a float has no nanosecond precision
        line(4, name={"a": 1}),  # once stored as "{'a': 1}"
        line(5, attributes=[{"key": "ok", "value": {"boolValue": "false"}}]),  # once stored as true
        line(6, attributes=[{"key": "n", "value": {"intValue": 2.7}}]),
    ]) + "\n")
    result = import_file(store, path)
    assert result.rows == {"spans": 1}
    errors = _errors(store)
    assert [loc for loc, _ in errors] == [f"spans.jsonl:{n}" for n in range(2, 7)]
    assert "flags" in errors[0][1] and "startTimeUnixNano" in errors[1][1] and "name" in errors[2][1]


def test_a_file_that_cannot_be_used_is_refused_and_the_next_one_imports(tmp_path: Path) -> None:
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"hello": "world"}\n')
    good = tmp_path / "good.jsonl"
    good.write_text(_record(1) + "\n")
    db = str(tmp_path / "s.duckdb")
    result = CliRunner().invoke(cli, ["import", str(odd), str(good), "--db", db])
    assert result.exit_code == 2
    assert "cannot tell what this file holds" in result.output and "good.jsonl: records, 1 records" in result.output
    with Store(db, read_only=True) as s:
        assert s.counts()["records"] == 1
