"""Values that once broke a whole Arrow batch: each record keeps what can be known."""

from __future__ import annotations

import pytest

from collectors.model import RECORD_SCHEMA, to_table
from collectors.normalize.records import record_row


def _row(value: bytes) -> dict:
    return record_row(cluster="c", topic="t", partition=0, offset=1, key=None, value=value, headers=[],
                      timestamp_ms=1_700_000_000_000, timestamp_type=1, tapped_at_us=0, source="test")


@pytest.mark.parametrize(
    ("value", "event_id", "event_time"),
    [
        (b'{"id": "\\ud800x", "occurredAt": 1700000000000}', "?x", "2023-11-14T22:13:20"),
        (b'{"id": "a", "occurredAt": NaN}', "a", None),
        (b'{"id": "b", "occurredAt": Infinity}', "b", None),
        (b'{"id": "c", "occurredAt": 1e300}', "c", None),
        (b'{"id": "d", "occurredAt": -5}', "d", None),
        (b'{"id": "e", "occurredAt": "not a time"}', "e", None),
        (b'{"id": "f", "occurred_at": "2026-03-01T10:15:30Z", "time": "x"}', "f", "2026-03-01T10:15:30"),
        (b'{"id": "g", "occurredOn": 1700000000000}', "g", "2023-11-14T22:13:20"),
    ],
)
def test_odd_envelope_values_store(value: bytes, event_id: str, event_time: str | None) -> None:
    table = to_table([_row(value)], RECORD_SCHEMA)  # raises if a value cannot be stored
    assert table.column("event_id").to_pylist() == [event_id]
    got = table.column("event_time").to_pylist()[0]
    assert (got.isoformat() if got else None) == event_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Spring Cloud Stream, Axon and many in-house formats: the envelope in "metadata", the data beside it
        (b'{"metadata": {"eventId": "e1", "eventType": "ClaimSubmitted", "timestamp": 1780000000123,'
         b' "schemaVersion": 2, "source": "intake"}, "payload": {"claimId": "c1", "id": "not the event"}}',
         ("json", "e1", "ClaimSubmitted", "2", "intake", "2026-05-28T20:26:40.123000")),
        # the object's missing fields come from the top level
        (b'{"header": {"id": "h1", "type": "T"}, "occurredAt": "2026-03-01T10:15:30Z", "version": 4}',
         ("json", "h1", "T", "4", None, "2026-03-01T10:15:30")),
        # a top level that names its own event id keeps it (values that were read so before)
        (b'{"id": "top", "type": "T", "metadata": {"eventId": "inner", "eventType": "U"}}',
         ("json", "top", "T", None, None, None)),
        # an object that names no event id or type is no envelope
        (b'{"meta": {"page": 2}, "payload": {}}', ("none", None, None, None, None, None)),
    ],
)
def test_an_envelope_nested_in_a_metadata_object_is_read(value: bytes, expected: tuple) -> None:
    """{"metadata": {"eventId": …}, "payload": …} was an event without id, time or version: ENVELOPE_MISSING
    on every record, and no event id for the idempotency and dead-letter checks."""
    row = to_table([_row(value)], RECORD_SCHEMA).to_pylist()[0]
    got = (row["envelope"], row["event_id"], row["event_type"], row["event_version"], row["event_source"],
           row["event_time"].isoformat() if row["event_time"] else None)
    assert got == expected
