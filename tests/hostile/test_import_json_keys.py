"""One rule for repeated JSON names, on every path that reads JSON: the first value wins (README).

The Kafka tap's paths (reference, bulk query, native) are held to it by tests/collectors/kafka's parity tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from collectors.importer import import_file
from collectors.otlp.decode import decode
from collectors.store import Store

TRACE = "5b8efff798038103d269b633813fc60c"


def test_a_record_line_keeps_the_first_of_repeated_names(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"topic": "orders", "partition": 0, "offset": 1, "offset": 2,'
        ' "value": {"eventId": "first", "eventId": {"nested": 1}, "eventType": "A", "n": 1, "n": 2},'
        ' "value": "replaced"}\n'
        '{"topic": "orders", "partition": 0, "offset": 3,'
        ' "value": "{\\"eventId\\": \\"first\\", \\"eventId\\": {\\"n\\": 1}}"}\n')
    import_file(store, path)
    rows = store.cursor().execute(
        'SELECT "offset", event_id, event_type, value_excerpt FROM records ORDER BY 1').fetchall()
    assert rows == [
        (1, "first", "A", '{"eventId":"first","eventType":"A","n":1}'),
        (3, "first", None, '{"eventId": "first", "eventId": {"n": 1}}'),
    ]


def _otlp_with_repeats() -> bytes:
    span = (f'{{"traceId": "{TRACE}", "spanId": "eee19b7ec3c1b174", "name": "first", "name": "second",'
            f' "startTimeUnixNano": "1764230400000000000", "endTimeUnixNano": "1764230400100000000"}}')
    resource = ('{"attributes": [{"key": "service.name", "value": {"stringValue": "web"},'
                ' "value": {"stringValue": "other"}}]}')
    return f'{{"resourceSpans": [{{"resource": {resource}, "scopeSpans": [{{"spans": [{span}]}}]}}]}}'.encode()


def test_otlp_json_keeps_the_first_in_import_and_in_the_receiver(store: Store, tmp_path: Path) -> None:
    body = _otlp_with_repeats()
    json.loads(body)  # valid JSON, repeated names and all
    table, rejected = decode(body, "json", "otlp-http")
    assert rejected == [] and table.select(["service", "name"]).to_pylist() == [{"service": "web", "name": "first"}]
    path = tmp_path / "spans.jsonl"
    path.write_bytes(body + b"\n")
    import_file(store, path)
    assert store.cursor().execute("SELECT service, name FROM spans").fetchall() == [("web", "first")]
