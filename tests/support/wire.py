"""Wire-format values as producers write them: confluent-kafka's serializers against a registry.

The registry is confluent-kafka's own in-memory client (a ``mock://`` URL) or, in
tests/collectors/kafka/test_registry_server.py, a client of a real Apicurio Registry
(scripts/schema_registry.py): the same client class and the same serializers a producer uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

ORDER_V1 = """{"type": "record", "name": "OrderPlaced", "namespace": "shop",
 "fields": [{"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
            {"name": "occurredAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]}"""
# v2 adds an optional field: the registry gives it version 2 of the subject
ORDER_V2 = ORDER_V1.replace('"fields": [', '"fields": [{"name": "note", "type": ["null", "string"], "default": null}, ')
CLOUDEVENT = """{"type": "record", "name": "CloudEvent", "namespace": "io.cloudevents",
 "fields": [{"name": "specversion", "type": "string"}, {"name": "id", "type": "string"},
            {"name": "source", "type": "string"}, {"name": "type", "type": "string"},
            {"name": "time", "type": "string"}, {"name": "data", "type": {"type": "map", "values": "string"}}]}"""
SHIPMENT_JSON_SCHEMA = """{"$schema": "http://json-schema.org/draft-07/schema#", "title": "ShipmentBooked",
 "type": "object", "properties": {"eventId": {"type": "string"}, "eventType": {"type": "string"},
 "eventTime": {"type": "string"}}}"""


def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://seamwatch-tests"})


def ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def payment_classes() -> tuple[Any, Any]:
    """A Protobuf file with two messages (the second, nested one needs message indexes [1, 0])."""
    fdp = descriptor_pb2.FileDescriptorProto(name="shop/payments.proto", package="shop", syntax="proto3")
    fdp.message_type.add(name="Envelope").field.add(
        name="id", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    msg = fdp.message_type.add(name="PaymentTaken")
    for number, name in enumerate(("event_id", "event_type", "occurred_at", "event_version"), 1):
        msg.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    refund = msg.nested_type.add(name="Refund")
    refund.field.add(name="eventId", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    refund.field.add(name="eventType", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.PaymentTaken")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.PaymentTaken.Refund")))


def avro_order(client: SchemaRegistryClient, topic: str, event_id: str, *, v2: bool = False) -> bytes:
    import decimal

    doc = {"eventId": event_id, "eventType": "OrderPlaced", "amount": decimal.Decimal("12.50"),
           "occurredAt": dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)}
    if v2:
        doc["note"] = "gift"
    return AvroSerializer(client, ORDER_V2 if v2 else ORDER_V1)(doc, ctx(topic))


def avro_cloudevent(client: SchemaRegistryClient, topic: str, event_id: str) -> bytes:
    return AvroSerializer(client, CLOUDEVENT)(
        {"specversion": "1.0", "id": event_id, "source": "/billing", "type": "shop.InvoiceIssued",
         "time": "2026-03-01T10:00:00Z", "data": {"invoice": "I-1"}}, ctx(topic))


def protobuf_payment(client: SchemaRegistryClient, topic: str, event_id: str) -> bytes:
    payment, _ = payment_classes()
    ser = ProtobufSerializer(payment, client, {"use.deprecated.format": False})
    return ser(payment(event_id=event_id, event_type="PaymentTaken", occurred_at="2026-03-01T10:00:01Z",
                       event_version="3"), ctx(topic))


def protobuf_refund(client: SchemaRegistryClient, topic: str, event_id: str) -> bytes:
    _, refund = payment_classes()
    return ProtobufSerializer(refund, client, {"use.deprecated.format": False})(
        refund(eventId=event_id, eventType="RefundIssued"), ctx(topic))


def json_shipment(client: SchemaRegistryClient, topic: str, event_id: str) -> bytes:
    return JSONSerializer(SHIPMENT_JSON_SCHEMA, client)(
        {"eventId": event_id, "eventType": "ShipmentBooked", "eventTime": "2026-03-01T10:00:02Z"}, ctx(topic))


def tap(store: Any, bootstrap: str, topic: str, source: Any, path: str = "auto") -> Any:
    """A Kafka tap of ``topic`` from its start that decodes wire-format values with ``source``."""
    import uuid

    from collectors.kafka.config import KafkaSettings
    from collectors.kafka.tap import KafkaTap
    from collectors.kafka.wire_records import WireRecords
    from collectors.normalize.wire_format import WireDecoder

    settings = KafkaSettings(bootstrap=[bootstrap], cluster="test", include=(topic,), batch_seconds=0.3,
                             topic_refresh=0.5, group_id=f"tap-{uuid.uuid4().hex[:6]}")
    step = WireRecords(WireDecoder(source), cluster="test", source="kafka:test")
    return KafkaTap(store, settings, from_beginning=True, path=path, wire=step)
