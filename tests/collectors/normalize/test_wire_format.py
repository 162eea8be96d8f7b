"""Schema-registry values: Avro, Protobuf and JSON Schema in the wire format → envelope columns."""

from __future__ import annotations

import datetime as dt
import json
import socket
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from collectors.errors import ConfigError
from collectors.kafka.registry import RegistrySchemas, RegistrySettings, parse_s
from collectors.kafka.wire_records import WireRecords
from collectors.normalize.records import record_row
from collectors.normalize.wire_format import Decoded, FolderSchemas, WireDecoder
from tests.support import wire


def _row(value: bytes, decoder: WireDecoder, headers=None) -> dict:
    got = decoder.decode(value)
    assert isinstance(got, Decoded), got
    return record_row(cluster="c", topic="t", partition=0, offset=1, key=b"k", value=value, headers=headers,
                      timestamp_ms=1, timestamp_type=1, tapped_at_us=2, source="test", decoded=got)


@pytest.fixture
def client():
    return wire.registry()


@pytest.fixture
def decoder(client) -> WireDecoder:
    return WireDecoder(RegistrySchemas(RegistrySettings("mock://seamwatch-tests"), client=client))


def test_avro_values_give_the_envelope_and_the_registry_version(client, decoder) -> None:
    wire.avro_order(client, "orders", "o-0")  # version 1 of the subject
    row = _row(wire.avro_order(client, "orders", "o-1", v2=True), decoder)
    assert row["envelope"] == "avro"
    assert (row["event_id"], row["event_type"]) == ("o-1", "OrderPlaced")
    assert row["event_time"] == 1_772_359_200_000_000  # 2026-03-01T10:00:00Z, from a timestamp-millis
    assert row["event_version"] == "2"  # the schema's registry version: the value names none
    shown = json.loads(row["value_excerpt"])
    assert shown["amount"] == "12.50" and shown["note"] == "gift"  # the decoded value, not framed bytes


def test_avro_cloudevents_are_structured_cloudevents(client, decoder) -> None:
    row = _row(wire.avro_cloudevent(client, "invoices", "ce-1"), decoder)
    assert row["envelope"] == "cloudevents-structured"
    assert (row["event_id"], row["event_type"], row["event_source"]) == ("ce-1", "shop.InvoiceIssued", "/billing")
    assert '"specversion"' in row["value_excerpt"]  # what the event-design audit looks for


def test_avro_envelope_nested_in_a_metadata_record(client, decoder) -> None:
    """An Avro event whose envelope is a nested record (metadata: {eventId, timestamp-millis, ...})."""
    from confluent_kafka.schema_registry.avro import AvroSerializer

    schema = """{"type": "record", "name": "ClaimSubmitted", "namespace": "claims", "fields": [
      {"name": "metadata", "type": {"type": "record", "name": "Metadata", "fields": [
        {"name": "eventId", "type": "string"}, {"name": "eventType", "type": "string"},
        {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}},
      {"name": "payload", "type": {"type": "map", "values": "string"}}]}"""
    value = AvroSerializer(client, schema)({"metadata": {
        "eventId": "m-1", "eventType": "ClaimSubmitted", "timestamp": dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)},
        "payload": {"claimId": "c-1"}}, wire.ctx("claims"))
    row = _row(value, decoder)
    assert (row["envelope"], row["event_id"], row["event_type"]) == ("avro", "m-1", "ClaimSubmitted")
    assert row["event_time"] == 1_772_359_200_000_000  # the nested timestamp-millis, read as a time
    assert row["event_version"] == "1"  # the schema's registry version


def test_protobuf_values_with_message_indexes(client, decoder) -> None:
    row = _row(wire.protobuf_payment(client, "payments", "p-1"), decoder)
    assert (row["envelope"], row["event_id"], row["event_type"]) == ("protobuf", "p-1", "PaymentTaken")
    assert row["event_version"] == "3"  # the value's own version wins over the registry's
    nested = _row(wire.protobuf_refund(client, "refunds", "r-1"), decoder)  # message indexes [1, 0]
    assert (nested["event_id"], nested["event_type"]) == ("r-1", "RefundIssued")


def test_json_schema_values(client, decoder) -> None:
    row = _row(wire.json_shipment(client, "shipments", "s-1"), decoder)
    assert (row["envelope"], row["event_id"], row["event_type"]) == ("json-schema", "s-1", "ShipmentBooked")
    assert row["event_version"] == "1" and row["event_time"] is not None


def test_schemas_are_fetched_once_per_id(client) -> None:
    calls = []
    source = RegistrySchemas(RegistrySettings("mock://seamwatch-tests"), client=client)
    fetch = source.fetch
    source.fetch = lambda sid: calls.append(sid) or fetch(sid)
    decoder = WireDecoder(source)
    values = [wire.avro_order(client, "orders", f"o-{i}") for i in range(20)]
    assert all(isinstance(decoder.decode(v), Decoded) for v in values)
    assert len(calls) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_registry_down_keeps_records_raw_counts_the_reason_and_resumes(client) -> None:
    value = wire.avro_order(client, "orders", "o-1")
    now = [0.0]
    down = RegistrySchemas(RegistrySettings(f"http://127.0.0.1:{_closed_port()}"), clock=lambda: now[0])
    decoder = WireDecoder(down, clock=lambda: now[0])
    step = WireRecords(decoder, cluster="c", source="kafka:c")
    fields = {"topic": "orders", "partition": 0, "offset": 7, "key": None, "value": value, "headers": None,
              "timestamp_ms": 1, "timestamp_type": 1}
    rows, errors = step.rows([fields] * 3, tapped_at_us=5)
    assert rows == [] and len(errors) == 1
    assert errors[0]["location"] == "orders/0/7"
    assert errors[0]["reason"].startswith("3 wire-format record(s) stored undecoded: schema registry unreachable")
    # the registry answers again (the same client class, now reaching a registry that holds the id)
    down.client = client
    assert step.rows([fields], tapped_at_us=6)[0] == []  # within the retry interval: not asked again
    now[0] = 60.0
    rows, errors = step.rows([fields], tapped_at_us=7)
    assert errors == [] and rows[0]["event_id"] == "o-1"
    assert step.kept_raw == 4


def test_unknown_schema_id_and_garbage_are_reasons_not_crashes(client, decoder) -> None:
    assert decoder.decode(b"\x00\x00\x00\x30\x39abc") == "schema id 12345 unknown to the schema registry"
    good = wire.avro_order(client, "orders", "o-1")
    reason = decoder.decode(good[:5] + b"\xff\xff\xff")
    assert isinstance(reason, str) and reason.startswith("value does not match schema")


def test_a_folder_of_schemas_named_by_id(tmp_path: Path, client) -> None:
    value = wire.avro_order(client, "orders", "o-1")
    sid = int.from_bytes(value[1:5], "big")
    (tmp_path / f"{sid}.avsc").write_text(wire.ORDER_V1)
    ce = wire.avro_cloudevent(client, "invoices", "ce-1")
    cid = int.from_bytes(ce[1:5], "big")
    (tmp_path / f"{cid}.json").write_text(json.dumps({"schema": wire.CLOUDEVENT, "schemaType": "AVRO", "version": 4}))
    pb = wire.protobuf_refund(client, "refunds", "r-1")
    pid = int.from_bytes(pb[1:5], "big")
    (tmp_path / f"{pid}.pb").write_text(client.get_schema(pid, fmt="serialized").schema_str)  # base64 descriptor
    decoder = WireDecoder(FolderSchemas(tmp_path))
    assert _row(value, decoder)["event_id"] == "o-1"
    assert _row(pb, decoder)["event_id"] == "r-1"
    assert _row(ce, decoder)["event_version"] == "4"
    assert decoder.decode(b"\x00\x00\x00\x00\x63xx") == f"schema 99 not found in {tmp_path.name}/"


def test_a_schema_added_to_the_folder_while_collecting_is_picked_up(tmp_path: Path, client) -> None:
    """collect runs for days: a schema file dropped in later decodes that id's records,
    once the miss's retry interval has passed (the folder is listed again, not per record)."""
    value = wire.avro_order(client, "orders", "o-1")
    sid = int.from_bytes(value[1:5], "big")
    now = [0.0]
    decoder = WireDecoder(FolderSchemas(tmp_path), clock=lambda: now[0])
    assert decoder.decode(value) == f"schema {sid} not found in {tmp_path.name}/"
    (tmp_path / f"{sid}.avsc").write_text(wire.ORDER_V1)
    now[0] = 10.0
    assert decoder.decode(value) == f"schema {sid} not found in {tmp_path.name}/"  # not asked again yet
    now[0] = 31.0
    got = decoder.decode(value)
    assert isinstance(got, Decoded) and got.doc["eventId"] == "o-1"


def test_secrets_are_never_shown() -> None:
    s = RegistrySettings.from_options("https://bob:hunter2@registry.example:8081", None,
                                      ["basic.auth.user.info=alice:s3cret", "ssl.key.password=pw",
                                       "ssl.ca.location=/etc/ca.pem"])
    shown = json.dumps(s.describe())
    assert "s3cret" not in shown and "hunter2" not in shown and "pw\"" not in shown
    assert "/etc/ca.pem" in shown
    with pytest.raises(ConfigError) as exc:
        parse_s(["basic.auth.user.info"])
    assert "basic.auth.user.info" in str(exc.value)


def test_cli_needs_the_url_with_s_and_never_echoes_secrets(tmp_path: Path) -> None:
    from dashboard.cli import cli

    result = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "x.duckdb"), "--bootstrap",
                                       "127.0.0.1:1", "-S", "basic.auth.user.info=alice:s3cret"])
    assert result.exit_code != 0 and "--schema-registry" in result.output
    assert "s3cret" not in result.output


@pytest.mark.parametrize("command", ["collect", "up"])
def test_collect_takes_a_folder_or_a_registry_not_both(tmp_path: Path, command: str) -> None:
    from dashboard.cli import cli

    db = tmp_path / "x.duckdb"
    result = CliRunner().invoke(cli, [command, "--db", str(db), "--bootstrap", "127.0.0.1:1",
                                      "--schemas", str(tmp_path), "--schema-registry", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "Error: give --schemas or --schema-registry, not both"


def test_import_decodes_with_a_folder_of_schemas_and_keeps_the_rest_raw(tmp_path: Path, client) -> None:
    import base64

    import duckdb

    from dashboard.cli import cli

    value = wire.avro_order(client, "orders", "o-1")
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / f"{int.from_bytes(value[1:5], 'big')}.avsc").write_text(wire.ORDER_V1)
    unknown = b"\x00\x00\x00\x00\x63" + value[5:]  # schema id 99: not in the folder
    lines = [{"topic": "orders", "partition": 0, "offset": i, "timestamp": 1_772_359_200_000,
              "value_b64": base64.b64encode(v).decode()} for i, v in enumerate((value, unknown))]
    f = tmp_path / "records.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(cli, ["import", str(f), "--db", str(db), "--schemas", str(schemas)])
    assert result.exit_code == 0, result.output
    assert "2 records, 0 rejected, 1 wire-format values stored undecoded" in result.output
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute('SELECT "offset", envelope, event_id FROM records ORDER BY "offset"').fetchall()
    errors = con.execute("SELECT location, reason FROM ingest_errors").fetchall()
    con.close()
    assert rows == [(0, "avro", "o-1"), (1, "none", None)]
    assert errors == [("records.jsonl:2", "wire-format value stored undecoded: schema 99 not found in schemas/")]


def test_a_registry_that_is_down_is_asked_once_per_interval_whatever_the_ids() -> None:
    now = [0.0]
    down = RegistrySchemas(RegistrySettings(f"http://127.0.0.1:{_closed_port()}"), clock=lambda: now[0])
    calls = []
    get = down.client.get_schema
    down.client.get_schema = lambda *a, **kw: calls.append(a) or get(*a, **kw)
    decoder = WireDecoder(down, clock=lambda: now[0])
    reasons = {decoder.decode(b"\x00" + sid.to_bytes(4, "big") + b"x") for sid in range(1, 200)}
    assert len(calls) == 1  # not one request (and one timeout) per schema id
    assert all(r.startswith("schema registry unreachable") for r in reasons)
    now[0] = 10.0
    decoder.decode(b"\x00\x00\x00\x00\x01x")
    assert len(calls) == 2


def test_the_tap_step_patches_exactly_what_record_row_gives_a_decoded_value(client, decoder) -> None:
    from collectors.kafka.batch import ReferenceRows, slow_table

    values = [wire.avro_order(client, "orders", "o-1"), wire.avro_cloudevent(client, "orders", "ce-1"),
              wire.protobuf_payment(client, "orders", "p-1"), b'{"eventId": "j-1"}']
    headers = [[("ce_correlationid", b"c-9"), ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
               None, [("kafka_dlt-original-topic", b"x")], None]
    fields = [{"topic": "orders", "partition": 1, "offset": 10 + i, "key": b"k", "value": v, "headers": h,
               "timestamp_ms": 1_772_359_200_000, "timestamp_type": 1} for i, (v, h) in enumerate(zip(values, headers, strict=True))]
    raw_table, _ = ReferenceRows(cluster="c", source="kafka:c").rows(list(reversed(fields)), 5)  # any row order
    step = WireRecords(decoder, cluster="c", source="kafka:c")
    patched, errors = step.apply(raw_table, [], [f for f in fields if f["value"][0] == 0], 5)
    expected = slow_table([record_row(cluster="c", source="kafka:c", tapped_at_us=5, **f,
                                      decoded=d if isinstance(d := decoder.decode(f["value"]), Decoded) else None)
                           for f in reversed(fields)])
    assert errors == []
    assert patched.to_pylist() == expected.to_pylist()
    assert [r["envelope"] for r in patched.to_pylist()] == ["json", "protobuf", "cloudevents-structured", "avro"]


def test_a_long_under_2_24_is_a_number_not_a_wire_format_frame() -> None:
    """Kafka's LongSerde writes a count under 2^24 as eight bytes whose first five are zero: magic
    byte 0 and schema id 0, an id no registry gives. With a registry the tap asked it for schema 0
    and counted every record of a Kafka Streams count() topic as an ingest error."""
    from collectors.normalize.wire_format import is_wire_format

    assert not is_wire_format(struct.pack(">q", 7))
    assert not is_wire_format(struct.pack(">q", 0))
    assert is_wire_format(b"\x00\x00\x00\x00\x01\x02order")  # schema id 1
    assert is_wire_format(struct.pack(">q", 1 << 24))  # an id of 1: read as a frame (the registry decides)
