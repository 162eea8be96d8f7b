"""Headers shown as "decoded" are decoded: Spring's binary ints as numbers, not NUL bytes or base64.

The stored form comes from the real record normalizer, so this holds for what the tap and
the importer write, not for a hand-made string."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from collectors.normalize.header_values import decode_all, readable_headers
from collectors.normalize.records import record_row

ORIGIN_MS = int(datetime(2026, 3, 2, 12, 0, 5, 250000, tzinfo=UTC).timestamp() * 1000)


def _stored(headers: list[tuple[str, bytes | None]]) -> str:
    row = record_row(cluster="c", topic="shop.orders.DLT", partition=0, offset=0, key=None, value=b"{}",
                     headers=headers, timestamp_ms=ORIGIN_MS, timestamp_type=0, tapped_at_us=0, source="test")
    return row["headers"]


def test_spring_binary_ints_read_as_numbers_and_the_timestamp_as_a_time() -> None:
    shown = dict(readable_headers(_stored([
        ("kafka_dlt-original-topic", b"shop.orders"),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)),  # four NUL bytes: valid UTF-8, unreadable
        ("kafka_dlt-original-offset", struct.pack(">q", 123_456)),
        ("kafka_dlt-original-timestamp", struct.pack(">q", ORIGIN_MS)),  # not UTF-8: stored as base64
        ("kafka_original-partition", struct.pack(">i", 3)),
        ("kafka_dlt-original-consumer-group", b"email"),
    ])))
    assert shown["kafka_dlt-original-topic"] == "shop.orders"
    assert shown["kafka_dlt-original-partition"] == "0"
    assert shown["kafka_dlt-original-offset"] == "123456"
    assert shown["kafka_dlt-original-timestamp"] == f"2026-03-02 12:00:05.250 UTC ({ORIGIN_MS} ms)"
    assert shown["kafka_original-partition"] == "3"
    assert shown["kafka_dlt-original-consumer-group"] == "email"
    assert not any(v.startswith("base64:") or "\x00" in v for v in shown.values())


def test_connect_text_ints_and_other_binary_values_stay_readable() -> None:
    shown = readable_headers(_stored([
        ("__connect.errors.partition", b"7"),
        ("blob", b"\xff\x00\x01"),
        ("empty", None),
    ]))
    assert shown == [("__connect.errors.partition", "7"), ("blob", "3 bytes (hex) ff 00 01"), ("empty", "(no value)")]


def test_attempt_counters_retry_times_and_digit_text_read_as_what_they_are() -> None:
    shown = dict(readable_headers(_stored([
        ("kafka_deliveryAttempt", struct.pack(">i", 3)),
        ("retry_topic-attempts", struct.pack(">i", 2)),
        ("retry_topic-backoff-timestamp", str(ORIGIN_MS).encode()),
        ("kafka_original-offset", b"1234"),  # four ASCII digits: text, not a 4-byte int
    ])))
    assert shown == {"kafka_deliveryAttempt": "3", "retry_topic-attempts": "2",
                     "retry_topic-backoff-timestamp": f"2026-03-02 12:00:05.250 UTC ({ORIGIN_MS} ms)",
                     "kafka_original-offset": "1234"}


def test_a_traceparent_names_its_trace_and_each_value_says_how_it_was_read() -> None:
    got = {h.name: h for h in decode_all(_stored([
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("kafka_dlt-original-partition", struct.pack(">i", 2)),
        ("blob", b"\xff" * 40),
        ("empty", None),
    ]))}
    assert got["traceparent"].trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert [h.decoded for h in got.values()] == ["text", "int", "binary", "null"]
    assert got["blob"].value == "40 bytes (hex) " + " ".join(["ff"] * 32) + " …"
    assert (got["empty"].value, got["empty"].shown) == (None, "(no value)")


def test_unreadable_stored_headers_are_one_row_not_an_error() -> None:
    assert readable_headers("not json") == [("(headers)", "could not be read")]
    assert readable_headers("5") == [] and readable_headers('{"a": 1}') == []
    assert readable_headers(None) == []
