"""The one table of envelope cases every normalizer of the tap must pass: the reference
(record_row per record), the bulk query and the native path built from Rust give exactly
what normalize's record_row gives, on tricky records. A new envelope rule gets its case
here first."""

from __future__ import annotations

import json
import os
import struct

import pytest
from confluent_kafka import Message

from collectors.kafka import fastpath, normalizers
from collectors.kafka.batch import slow_table
from collectors.model import EXCERPT_BYTES
from collectors.normalize.records import record_row

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
ISO = "2026-03-01T10:15:30.123456Z"


def _v(doc: object) -> bytes:
    return json.dumps(doc).encode()


# Kafka Connect's JsonConverter writes the schema first: a Debezium event's runs past the excerpt's bound
CONNECT_SCHEMA = (b'{"schema":{"type":"struct","fields":['
                  + b",".join(b'{"type":"int32","optional":true,"field":"column_%d"}' % i for i in range(30))
                  + b'],"name":"dbz.public.orders.Envelope","version":2}')


# (key, value, headers, timestamp) — each exercises one rule of normalize
CASES: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]] | None, tuple[int, int]]] = [
    (b"order-1", _v({"eventId": "e1", "eventType": "OrderCreated", "eventVersion": 2, "occurredAt": ISO}),
     [("traceparent", TP.encode()), ("content-type", b"application/json")], (1, 1_780_000_000_000)),
    (None, None, None, (0, -1)),  # tombstone without key, headers or timestamp
    (b"\xff\xfe", b"\x00\x01\x02binary", [("bin", b"\x80\x81"), ("nul", None)], (2, 1_780_000_000_001)),
    (b"k", b"not json at all", [("traceparent", b"garbage")], (1, 5)),
    (b"k", b"{ broken json", [], (1, 5)),
    (b"k", b"[1, 2, 3]", None, (1, 5)),
    (b"k", b' {"id": 7, "type": "X", "time": 1780000000}', None, (1, 5)),  # leading blank, epoch seconds
    (b"k", _v({"id": "a", "time": 1780000000123}), None, (1, 5)),  # epoch ms
    (b"k", _v({"id": "a", "time": 1780000000123456}), None, (1, 5)),  # epoch µs
    (b"k", _v({"id": "a", "time": 1780000000123456789}), None, (1, 5)),  # epoch ns
    (b"k", _v({"id": "a", "time": 1780000000.5}), None, (1, 5)),  # float seconds
    (b"k", _v({"id": "a", "time": "2026-03-01T10:15:30+05:30"}), None, (1, 5)),
    (b"k", _v({"id": "a", "time": "2026-03-01T10:15:30"}), None, (1, 5)),
    (b"k", _v({"id": "a", "time": "2026-02-30T10:15:30Z"}), None, (1, 5)),  # no such day
    (b"k", _v({"id": "a", "time": "yesterday"}), None, (1, 5)),
    (b"k", _v({"id": "a", "time": "9999-12-31T23:59:59+05:00"}), None, (1, 5)),
    (b"k", _v({"id": "a", "time": "2026-03-01 10:15:30.5"}), None, (1, 5)),  # space separator
    (b"k", _v({"id": "a", "time": True}), None, (1, 5)),
    (b"k", _v({"id": "a", "occurred_at": ISO, "time": "later"}), None, (1, 5)),  # snake case, before "time"
    (b"k", _v({"id": "a", "occurredOn": "2026-03-01T10:15:30Z"}), None, (1, 5)),
    (b"k", _v({"id": True, "type": 1.5, "version": {"a": 1}}), None, (1, 5)),  # Python str() of odd types
    (b"k", _v({"id": None, "event_id": "second", "type": None}), None, (1, 5)),  # null falls through
    # repeated names: the first value wins on every path (README), whatever the values' kinds
    (b"k", b'{"id": "a", "id": "b"}', None, (1, 5)),
    (b"k", b'{"id": {"n": 1}, "id": "b", "type": "T"}', None, (1, 5)),
    (b"k", b'{"id": "a", "id": {"n": 1}, "type": "T"}', None, (1, 5)),
    (b"k", b'{"type": "X", "id": "a", "type": "Y", "type": ["Z"]}', None, (1, 5)),
    (b"k", b'{"id": "a", "version": {"v": 1, "v": 2}, "time": 1780000000, "time": "2026-03-01T10:15:30Z"}',
     None, (1, 5)),
    (b"k", b'{"id": null, "id": "second", "eventId": "e", "eventId": "f"}', None, (1, 5)),
    (b"k", b'{"id": "a", "id": NaN}', None, (1, 5)),
    (b"k", b'{"id": "\\u0069d", "\\u0069d": "escaped name"}', None, (1, 5)),
    (b"k", b'{"id": "a",}', None, (1, 5)),  # trailing comma: Python rejects
    (b"k", b'{"id": "a", "type": [1, 2 ]\n}', None, (1, 5)),  # no trailing comma, blanks before ] and }
    (b"k", b'{"id": "a\x01b", "type": "T"}', None, (1, 5)),  # raw control character in a string
    (b"k", b'{"id": "a\tb"}', None, (1, 5)),  # raw tab in a string: Python rejects
    (b"k", b'{"id": "a",\x0c"type": "T"}', None, (1, 5)),  # form feed is no JSON blank
    (b"k", b'{"id": "a", "x": [1,\n ]}', None, (1, 5)),  # nested trailing comma after a newline
    (b"k", b'{"id": NaN, "type": Infinity}', None, (1, 5)),
    (b"k", b'{"id": "\\ud800"}', None, (1, 5)),  # lone surrogate escape
    (b"k", b'{"id": "\\ud800x", "occurredAt": 1700000000000}', None, (1, 5)),  # lone surrogate, then a real time
    (b"k", b'{"id": "b", "occurredAt": Infinity}', None, (1, 5)),
    (b"k", b'{"id": "e", "occurredAt": "not a time"}', None, (1, 5)),
    (b"k", b'{"id": "a\\u0000b", "type": "T\\u00e9"}', None, (1, 5)),
    (b"k", b'{"id": 123456789012345678901234567890}', None, (1, 5)),  # beyond 64 bits
    (b"k", b'{"id": -0, "type": -12}', None, (1, 5)),
    (b"k", b'{"id": 1e400, "version": -12.5e3, "time": -5}', None, (1, 5)),
    (b"k", b'{"id": "x", "time": 1e300, "source": 0, "causationId": 12345678901234567890123}', None, (1, 5)),
    # an envelope nested in an object (envelope.CONTAINERS), read when the top level names no id or type
    (b"k", _v({"metadata": {"eventId": "m1", "eventType": "ClaimSubmitted", "timestamp": 1780000000123,
                            "schemaVersion": 2}, "payload": {"id": "claim-1"}}), None, (1, 5)),
    (b"k", _v({"meta": {"note": "no id"}, "header": {"type": "T", "time": ISO}, "version": 3}), None, (1, 5)),
    (b"k", _v({"id": "top", "metadata": {"eventId": "inner"}}), None, (1, 5)),  # the top level's own id wins
    (b"k", _v({"envelope": ["not", "an", "object"], "metadata": None, "payload": {"eventId": "p"}}), None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": "m2"}}), [("__TypeId__", b"com.acme.Claim")], (1, 5)),
    (b"k", b'{"metadata": {"eventId": "first"}, "metadata": {"eventId": "second"}}', None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": "m3", "timestamp": "soon"}, "occurredAt": ISO}), None, (1, 5)),  # top's time
    (b"k", _v({"metadata": {"eventId": "m4", "timestamp": ISO}, "occurredAt": "2020-01-01T00:00:00Z"}), None, (1, 5)),
    (b"k", b'{"metadata": {"\\u0065ventId": "escaped name"}, "time": 5}', None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": 1.5, "eventType": True}, "header": {"type": "T"}}), None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": None, "eventType": "T2", "version": "\u00e9"}}), None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": "m5", "timestamp": {"at": 1}}}), None, (1, 5)),
    (b"k", _v({"metadata": {"eventId": "m6", "deep": {"eventId": "no"}}, "id": None}), None, (1, 5)),
    (b"k", b'\r{"id": "cr"}', None, (1, 5)),  # \r is not a JSON start for normalize
    (b"k", b'\t{"id": "tab"}\n', None, (1, 5)),
    (b"k", "{\"id\": \"é\"}".encode("latin-1"), None, (1, 5)),  # not UTF-8
    (b"k", _v({"payload": "x" * 3000, "id": "big"}), None, (1, 5)),  # excerpt bound
    (b"k", b"a" * (EXCERPT_BYTES - 1) + "é".encode() + b"tail", None, (1, 5)),  # char cut by the bound
    # Kafka Connect JSON past the bound: the excerpt keeps its payload, not the first KiB of its schema
    (b"k", CONNECT_SCHEMA + b',"payload":{"before":null,"after":{"id":1,"customer_id":7},"op":"c"}}', None, (1, 5)),
    (b"k", CONNECT_SCHEMA + b',"payload":{"after":"' + "é".encode() * 700 + b'"}}', None, (1, 5)),  # cut in a char
    (b"k", CONNECT_SCHEMA + b',"payload":' + b"\xff" * 1500 + b"}", None, (1, 5)),  # payload not UTF-8
    (b"k", CONNECT_SCHEMA + b',"schemaless":{}}', None, (1, 5)),  # no payload: the first KiB, as for any value
    (b"k", b'{"schema":{},"payload":{"id":"small"}}', None, (1, 5)),  # whole within the bound: kept whole
    (b"k", b"{}" , [("eventId", b"h1"), ("__TypeId__", b"com.shop.OrderCreated"), ("version", b"3"),
                    ("X-Correlation-Id", b"corr"), ("causationId", b"cause")], (1, 5)),
    (b"k", _v({"type": "T"}), [("event_id", None), ("eventId", b"from-header")], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", b"00-" + b"0" * 32 + b"-b7ad6b7169203331-01")], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", TP.upper().encode())], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", b" " + TP.encode() + b" ")], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", b"00-0x" + b"a" * 30 + b"-b7ad6b7169203331-01")], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", b"")], (1, 5)),
    (b"k", _v({"id": "x"}), [("traceparent", b"bad"), ("traceparent", TP.encode())], (1, 5)),  # last wins
    (b"k", _v({"id": "x"}), [("ce_id", b"ce-1"), ("ce_type", b"com.shop.OrderCreated"), ("ce_source", b"/orders"),
                              ("ce_time", ISO.encode()), ("ce_specversion", b"1.0")], (1, 5)),
    (b"k", _v({"id": "s1", "type": "T", "specversion": "1.0", "source": "/x"}),
     [("content-type", b"application/cloudevents+json")], (1, 5)),
    (b"k", b"poison", [("kafka_dlt-original-topic", b"orders"), ("kafka_dlt-original-partition", struct.pack(">i", 2)),
                       ("kafka_dlt-original-offset", struct.pack(">q", 42)),
                       ("kafka_dlt-original-consumer-group", b"email"),
                       ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException"),
                       ("kafka_dlt-exception-message", b"boom")], (1, 5)),
    (b"k", b"x", [("__connect.errors.topic", b"orders"), ("__connect.errors.partition", b"0"),
                  ("__connect.errors.offset", b"7"), ("__connect.errors.connector.name", b"sink")], (1, 5)),
    (b"k", b"x", [("kafka_deliveryAttempt", struct.pack(">i", 3))], (1, 5)),
    (b"", b"", [], (1, 0)),
    (b"k", b"{}", [('quote"and\\back', b'va"l\\ue\n\x01'), ("\u00e9t\u00e9", "\u2028caf\u00e9".encode())], (1, 5)),
]


def _chosen(path: str) -> str:
    if path == "native" and not fastpath.available():
        if os.environ.get("CI") == "true":
            pytest.fail("the native tap path was not built (needs a Rust toolchain at install)")
        pytest.skip("the native tap path was not built (no Rust toolchain at install)")
    return path


@pytest.fixture(params=normalizers.PATHS)
def path(request: pytest.FixtureRequest) -> str:
    """Every normalizer: the table holds them all to record_row."""
    return _chosen(request.param)


@pytest.fixture(params=[p for p in normalizers.PATHS if p != "reference"])
def fast_path(request: pytest.FixtureRequest) -> str:
    return _chosen(request.param)


def _convert(path: str, msgs: list[Message], **kw: object) -> tuple[object, list[dict]]:
    normalizer = normalizers.choose(path, cluster="c1", **kw)
    table, errors = normalizer.convert(normalizer.capture(msgs), tapped_at_us=1_790_000_000_000_000)
    return normalizer.rows, table, errors


def _messages(topic: str = "orders") -> list[Message]:
    return [Message(topic=topic, partition=i % 3, offset=100 + i, key=k, value=v, headers=h, timestamp=ts)
            for i, (k, v, h, ts) in enumerate(CASES)]


def _reference(msgs: list[Message]) -> list[dict]:
    rows = []
    for m in msgs:
        t = m.timestamp()
        rows.append(record_row(cluster="c1", topic=m.topic(), partition=m.partition(), offset=m.offset(),
                               key=m.key(), value=m.value(), headers=m.headers(), timestamp_ms=t[1],
                               timestamp_type=t[0], tapped_at_us=1_790_000_000_000_000, source="kafka"))
    return slow_table(rows).to_pylist()


def _comparable(row: dict) -> dict:
    return dict(row)  # byte for byte, the headers' JSON text included


@pytest.mark.parametrize("topic", ["orders", "orders.DLT"])
def test_every_path_matches_record_row(path: str, topic: str) -> None:
    msgs = _messages(topic)
    conv, table, errors = _convert(path, msgs, source="kafka")
    assert errors == []  # normalize reads every case here (impossible event times are no time)
    got = {(r["partition"], r["offset"]): _comparable(r) for r in table.to_pylist()}
    want = {(r["partition"], r["offset"]): _comparable(r) for r in _reference(msgs)}
    assert got.keys() == want.keys()
    for k, expected in want.items():
        assert got[k] == expected, f"case {k[1] - 100}: {CASES[k[1] - 100][1]!r:.80}"
    # a fast path must carry the ordinary records, not hand everything to the reference
    assert conv.slow_rows < len(msgs) * 0.6 or path == "reference"


def test_ordinary_records_take_the_fast_path(fast_path: str) -> None:
    msgs = [Message(topic="orders", partition=0, offset=i, key=b"k%d" % i,
                    value=_v({"eventId": f"e{i}", "eventType": "OrderCreated", "occurredAt": ISO, "n": i}),
                    headers=[("traceparent", TP.encode()), ("content-type", b"application/json")],
                    timestamp=(1, 1_780_000_000_000 + i)) for i in range(500)]
    conv, table, _ = _convert(fast_path, msgs)
    assert conv.slow_rows == 0
    assert table.num_rows == 500
    assert table.column("event_id").to_pylist() == [f"e{i}" for i in range(500)]


def test_envelopes_nested_in_metadata_take_the_native_path() -> None:
    """A cluster whose every value nests its envelope ({"metadata": {...}, "payload": {...}}) sent
    each record to the reference path: 40k records/s against 700k (the bulk path still does)."""
    msgs = [Message(topic="claims", partition=0, offset=i, key=b"k%d" % i,
                    value=_v({"metadata": {"eventId": f"e{i}", "eventType": "ClaimSubmitted", "timestamp": ISO},
                              "payload": {"n": i}}), timestamp=(1, 1_780_000_000_000 + i)) for i in range(500)]
    conv, table, _ = _convert(_chosen("native"), msgs)
    assert conv.slow_rows == 0
    assert table.column("event_id").to_pylist() == [f"e{i}" for i in range(500)]
    assert set(table.column("envelope").to_pylist()) == {"json"}


def test_an_impossible_event_time_is_no_time(path: str) -> None:
    msgs = [Message(topic="orders", partition=0, offset=i, key=b"k", value=v,
                    headers=[("traceparent", TP.encode())], timestamp=(1, 5))
            for i, v in enumerate([b'{"id": "n", "time": NaN}', b'{"id": "big", "time": 1e300}',
                                   b'{"id": "neg", "time": -5}'])]
    _, table, errors = _convert(path, msgs)
    rows = sorted(table.to_pylist(), key=lambda r: r["offset"])
    assert [(r["event_id"], r["envelope"], r["event_time"], r["trace_id"]) for r in rows] == [
        ("n", "json", None, TP[3:35]), ("big", "json", None, TP[3:35]), ("neg", "json", None, TP[3:35])]
    assert rows[0]["value_excerpt"] == '{"id": "n", "time": NaN}'
    assert errors == []


def test_a_value_normalize_cannot_store_is_kept_and_counted(path: str) -> None:
    value = b'{"id": "far", "time": "9999-12-31T23:59:59-23:59"}'  # past 9999-12-31 in UTC
    msgs = [Message(topic="orders", partition=0, offset=1, key=b"k", value=value,
                    headers=[("traceparent", TP.encode())], timestamp=(1, 5))]
    _, table, errors = _convert(path, msgs)
    [row] = table.to_pylist()
    assert (row["offset"], row["value_size"], row["trace_id"], row["event_id"]) == (1, len(value), TP[3:35], None)
    assert row["value_excerpt"] == value.decode()
    assert [e["location"] for e in errors] == ["orders/0/1"]
