"""The tap on a real broker with schema-registry values: decoded, or kept raw and counted."""

from __future__ import annotations

import json
import socket
import time

import pytest

from collectors.kafka import fastpath
from collectors.kafka.registry import RETRY_DOWN_S, RegistrySchemas, RegistrySettings
from tests.collectors.kafka.conftest import wait_for
from tests.support import wire

pytestmark = pytest.mark.kafka

PATHS = ["bulk", "reference"] + (["native"] if fastpath.available() else [])


def _rows(store, topic: str) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in store.cursor().execute(
        'SELECT "offset", envelope, event_id, event_type, event_version, value_size FROM records '
        'WHERE topic = ? ORDER BY "offset"', [topic]).fetchall()}


@pytest.mark.parametrize("path", PATHS)
def test_wire_format_values_are_decoded_beside_json(store, bootstrap, topic_factory, produce, path) -> None:
    client = wire.registry()
    topic = topic_factory("wire")
    produce(topic, [
        (b"o-1", wire.avro_order(client, topic, "o-1"), None),
        (b"p-1", wire.protobuf_payment(client, f"{topic}-pb", "p-1"), None),
        (b"s-1", wire.json_shipment(client, f"{topic}-js", "s-1"), None),
        (b"j-1", json.dumps({"eventId": "j-1", "eventType": "Plain", "eventVersion": "1"}).encode(), None),
        (b"ce", wire.avro_cloudevent(client, f"{topic}-ce", "ce-1"), [("traceparent", b"garbage")]),
        (b"x", b"\x00\x00\x00\x00", None),  # too short for the framing: bytes, as before
    ])
    tap = wire.tap(store, bootstrap, topic, RegistrySchemas(RegistrySettings("mock://t"), client=client), path)
    tap.start()
    try:
        wait_for(lambda: len(_rows(store, topic)) == 6, what="6 records")
    finally:
        tap.stop()
    rows = _rows(store, topic)
    assert rows[0][:4] == ("avro", "o-1", "OrderPlaced", "1")
    assert rows[1][:4] == ("protobuf", "p-1", "PaymentTaken", "3")
    assert rows[2][:4] == ("json-schema", "s-1", "ShipmentBooked", "1")
    assert rows[3][:4] == ("json", "j-1", "Plain", "1")
    assert rows[4][:3] == ("cloudevents-structured", "ce-1", "shop.InvoiceIssued")
    assert rows[5][0] == "none" and rows[5][4] == 4
    assert store.cursor().execute("SELECT count(*) FROM records").fetchone()[0] == 6  # replaced, not added
    status = tap.status()
    assert status.wire_decoded == 4 and status.schema_registry is not None
    assert "schema registry: 4 decoded" in status.describe()  # the Overview's line


def test_registry_down_the_tap_stores_raw_and_goes_on(store, bootstrap, topic_factory, produce) -> None:
    client = wire.registry()
    topic = topic_factory("wire-down")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = RegistrySchemas(RegistrySettings(f"http://127.0.0.1:{port}"))
    produce(topic, [(f"o-{i}".encode(), wire.avro_order(client, topic, f"o-{i}"), None) for i in range(50)])
    tap = wire.tap(store, bootstrap, topic, source, "auto" if fastpath.available() else "bulk")
    tap.start()
    try:
        wait_for(lambda: len(_rows(store, topic)) == 50, what="50 raw records")
        errors = store.cursor().execute("SELECT reason FROM ingest_errors").fetchall()
        assert errors and all("schema registry unreachable" in r for (r,) in errors)
        assert sum(int(r.split()[0]) for (r,) in errors) == 50  # every record counted once
        assert {r[0] for r in _rows(store, topic).values()} == {"none"}
        # the registry answers again: once the retry interval is over, later records are decoded
        # without restarting the tap
        source.client = client
        time.sleep(RETRY_DOWN_S + 0.5)
        produce(topic, [(b"o-late", wire.avro_order(client, topic, "o-late"), None)])
        wait_for(lambda: len(_rows(store, topic)) == 51, what="the record after the outage")
    finally:
        tap.stop()
    assert _rows(store, topic)[50][:2] == ("avro", "o-late")
    assert tap.status().state == "stopped" and tap.status().wire_kept_raw == 50
    assert "schema registry: 1 decoded, 50 kept raw" in tap.status().describe()
