"""The tap against a real schema-registry server (Apicurio Registry, scripts/schema_registry.py):
producers register their schemas through confluent-kafka's serializers, the tap fetches them over
HTTP from the Confluent-compatible API, as it would from Confluent's, Karapace or Redpanda."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from collectors.kafka.registry import RegistrySchemas, RegistrySettings
from collectors.kafka.tap import KafkaTap
from tests.collectors.kafka.conftest import wait_for
from tests.support import wire
from tests.support.services import service_script

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry started for this module (built from Maven Central once, then cached)."""
    script = service_script("schema_registry")
    why = script.missing_requirement()
    if why is None:
        reg = script.Registry(tmp_path_factory.mktemp("registry"))
        try:
            reg.start()
        except script.RegistryError as exc:
            why = f"the schema registry did not start: {exc}"
    if why is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    try:
        yield reg.url
    finally:
        reg.stop()


def _rows(store, topic: str) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in store.cursor().execute(
        'SELECT "offset", envelope, event_id, event_type, event_version, value_excerpt FROM records '
        'WHERE topic = ? ORDER BY "offset"', [topic]).fetchall()}


def _read(store, bootstrap: str, topic: str, registry_url: str, records: int) -> KafkaTap:
    """Tap ``topic`` until it stored ``records``, with a registry client as `collect` makes it."""
    tap = wire.tap(store, bootstrap, topic, RegistrySchemas(RegistrySettings(registry_url)))
    tap.start()
    try:
        wait_for(lambda: len(_rows(store, topic)) == records, what=f"{records} records")
    finally:
        tap.stop()
    return tap


def test_the_tap_decodes_avro_protobuf_and_json_schema_values_a_real_registry_holds(
        store, bootstrap, topic_factory, produce, registry_url: str) -> None:
    client = SchemaRegistryClient({"url": registry_url})  # the producers' own client, over HTTP
    topic = topic_factory("registry")
    produce(topic, [
        (b"o-1", wire.avro_order(client, topic, "o-1"), None),  # version 1 of the subject
        (b"o-2", wire.avro_order(client, topic, "o-2", v2=True), None),  # version 2: a field added
        (b"p-1", wire.protobuf_payment(client, f"{topic}-pb", "p-1"), None),
        (b"r-1", wire.protobuf_refund(client, f"{topic}-refunds", "r-1"), None),  # message indexes [1, 0]
        (b"s-1", wire.json_shipment(client, f"{topic}-js", "s-1"), None),
        (b"j-1", json.dumps({"eventId": "j-1", "eventType": "Plain", "eventVersion": "1"}).encode(), None),
    ])
    tap = _read(store, bootstrap, topic, registry_url, 6)
    rows = _rows(store, topic)
    assert rows[0][:4] == ("avro", "o-1", "OrderPlaced", "1")
    assert rows[1][:4] == ("avro", "o-2", "OrderPlaced", "2")  # the registry's version of the schema
    assert json.loads(rows[1][4])["note"] == "gift"  # the decoded value, not framed bytes
    assert rows[2][:4] == ("protobuf", "p-1", "PaymentTaken", "3")
    assert rows[3][:3] == ("protobuf", "r-1", "RefundIssued")
    assert rows[4][:4] == ("json-schema", "s-1", "ShipmentBooked", "1")
    assert rows[5][:3] == ("json", "j-1", "Plain")
    assert store.cursor().execute("SELECT count(*) FROM ingest_errors").fetchone()[0] == 0
    assert tap.status().wire_decoded == 5


def test_an_id_the_registry_does_not_know_is_kept_raw_and_counted(
        store, bootstrap, topic_factory, produce, registry_url: str) -> None:
    """A value framed with a schema id this registry never gave (written against another one)."""
    other = wire.registry()  # the in-memory registry: its ids mean nothing to the real one
    for i in range(40):
        wire.avro_order(other, f"filler-{i}", "f")  # ids well past any the real registry gave in this module
    topic = topic_factory("registry-unknown")
    produce(topic, [(b"o-9", wire.avro_order(other, topic, "o-9"), None)])
    _read(store, bootstrap, topic, registry_url, 1)
    assert _rows(store, topic)[0][0] == "none"
    [(reason,)] = store.cursor().execute("SELECT reason FROM ingest_errors").fetchall()
    assert "unknown to the schema registry" in reason, reason

