"""The Records search: each filter kind, JSON-path equality, paging, bad input; one record's story."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest

from collectors.normalize.header_values import decode_all
from dashboard.analyses import records as rec
from dashboard.analyses.identity import identity
from dashboard.analyses.window import Window
from tests.support.builders import T0
from tests.support.rules import rule_findings

WINDOW = Window(T0 - timedelta(minutes=1), T0 + timedelta(hours=2))


@pytest.fixture
def shop(data, store):
    """Orders on two partitions, payments, one binary value, a cut excerpt."""
    for i in range(6):
        data.record("shop.orders", i % 2, i, at=60 * i, key=f"o-{i}",
                    value={"eventId": f"e-{i}", "type": "OrderCreated",
                           "data": {"orderId": f"o-{i}", "customerId": f"c-{i % 3}", "total": 10 * i,
                                    "vip": i == 4, "note": None if i == 5 else "x"}},
                    headers=[("content-type", "application/json"), ("tenant", "eu" if i < 3 else "us")])
    data.record("shop.payments", 0, 0, at=30, key="o-1", value={"orderId": "o-1", "customerId": "c-42"},
                headers=[("ce_subject", "o-1")])
    data.record("shop.blobs", 0, 0, at=31, key=None, value=b"\xff\xfe binary")
    data.record("shop.blobs", 0, 1, at=32, key="big", value=b'{"customerId": "c-42", "pad": "' + b"x" * 2000 + b'"}')
    data.write()
    return store


def _find(store, window=WINDOW, page=0, page_size=50, **q):
    df = rec.search(store.cursor(), window, rec.RecordQuery.from_strings(**q), page=page, page_size=page_size)
    return [rec.record_id(t, p, o) for t, p, o in zip(df["topic"], df["partition"], df["offset"], strict=True)]


def test_newest_first_and_every_simple_filter(shop):
    assert _find(shop)[:3] == ["shop.orders/1/5", "shop.orders/0/4", "shop.orders/1/3"]
    assert _find(shop, topic="shop.orders", partition="1") == ["shop.orders/1/5", "shop.orders/1/3", "shop.orders/1/1"]
    assert _find(shop, topic="shop.orders", offset_from="2", offset_to="3") == ["shop.orders/1/3", "shop.orders/0/2"]
    assert _find(shop, key="o-1") == ["shop.orders/1/1", "shop.payments/0/0"]
    assert _find(shop, cluster="elsewhere") == []


def test_time_window_keeps_only_its_records(shop):
    five_minutes = Window(T0 + timedelta(seconds=100), T0 + timedelta(seconds=200))
    assert _find(shop, window=five_minutes) == ["shop.orders/1/3", "shop.orders/0/2"]


def test_header_name_value_and_both_on_the_same_header(shop):
    assert _find(shop, header="ce_subject") == ["shop.payments/0/0"]
    assert _find(shop, header="tenant", header_value="us") == ["shop.orders/1/5", "shop.orders/0/4",
                                                              "shop.orders/1/3"]
    assert _find(shop, header_value="o-1") == ["shop.payments/0/0"]
    # name and value must hold on one header: 'content-type' never has the value 'us'
    assert _find(shop, header="content-type", header_value="us") == []
    assert _find(shop, header="content.type") == [], "a name is exact, not a pattern"
    assert _find(shop, header="tenant", header_value="u.") == []


def test_header_text_json_escapes_is_matched_exactly(data, store):
    data.record("t", 0, 0, at=0, headers=[("note", 'say "hi"\now'), ("x[", "a\nb")])
    data.record("t", 0, 1, at=1, headers=[("note", "say hi")])
    data.write()
    assert _find(store, header="note", header_value='"hi"') == ["t/0/0"]
    assert _find(store, header_value="nb") == [], "an escape pair is not the letters of its text"
    assert _find(store, header="x[") == ["t/0/0"]
    assert _find(store, header="note", header_value="say") == ["t/0/1", "t/0/0"]


def test_value_substring(shop):
    assert _find(shop, value='"customerId": "c-42"') == ["shop.blobs/0/1", "shop.payments/0/0"]
    assert _find(shop, value="binary") == [], "a binary value is kept as base64: its text is not searched"


def test_json_path_equality_by_type(shop):
    assert _find(shop, value='$.data.customerId == "c-1"') == ["shop.orders/0/4", "shop.orders/1/1"]
    assert _find(shop, value="$.customerId == 'c-42'") == ["shop.payments/0/0"], \
        "single quotes work; the cut excerpt of shop.blobs/0/1 is no JSON and is skipped, not an error"
    assert _find(shop, value="$.data.total == 30") == ["shop.orders/1/3"]
    assert _find(shop, value="$.data.total == 30.0") == ["shop.orders/1/3"]
    assert _find(shop, value='$.data.total == "30"') == [], "a string is not a number"
    assert _find(shop, value="$.data.vip == true") == ["shop.orders/0/4"]
    assert _find(shop, value="$.data.note == null") == ["shop.orders/1/5"]
    assert _find(shop, value='$["data"]["orderId"] == "o-2"') == ["shop.orders/0/2"]


@pytest.mark.parametrize(("field", "text", "says"), [
    ("value", "$.customerId = 'c-42'", "expected '=='"),
    ("value", "$. == 1", "a field name must follow '.'"),
    ("value", "$.a == c-42", "must be a JSON string, number"),
    ("value", "$[x] == 1", "expected [index]"),
    ("partition", "one", "partition must be a whole number"),
    ("offset_from", "-3", "must not be negative"),
    ("offset_from", "9", "offset from (9) is after offset to (2)"),
])
def test_bad_input_is_one_clear_line(field, text, says):
    raw = {field: text}
    if field == "offset_from":
        raw["offset_to"] = "2" if text == "9" else None
    with pytest.raises(rec.SearchError) as exc:
        rec.RecordQuery.from_strings(**raw)
    assert says in str(exc.value) and "\n" not in str(exc.value)


def test_a_value_that_merely_mentions_a_dollar_is_a_substring():
    assert rec.RecordQuery.from_strings(value="costs $5").value == "costs $5"
    assert not rec.is_json_path("costs $5")


def test_hostile_text_is_bound_not_spliced(shop):
    assert _find(shop, key="' OR 1=1 --") == []
    assert _find(shop, value="'); DROP TABLE records; --") == []
    assert _find(shop, value='$.data.customerId == "\\"); DROP TABLE records; --"') == []
    assert rec.count(shop.cursor(), WINDOW, rec.RecordQuery()) == 9


def test_paging_walks_every_match_once(shop):
    pages = [_find(shop, topic="shop.orders", page=n, page_size=4) for n in range(3)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert sorted(pages[0] + pages[1]) == sorted(f"shop.orders/{i % 2}/{i}" for i in range(6))
    assert rec.count(shop.cursor(), WINDOW, rec.RecordQuery(topic="shop.orders")) == 6
    per_minute = rec.over_time(shop.cursor(), WINDOW, rec.RecordQuery(topic="shop.orders", partition=1),
                               bucket=timedelta(minutes=1))
    assert list(per_minute["records"]) == [1, 1, 1] and set(per_minute["topic"]) == {"shop.orders"}


def test_spring_binary_headers_read_as_numbers_and_times():
    stored = ('[["kafka_dlt-original-partition", "\\u0000\\u0000\\u0000\\u0002"],'
              ' ["kafka_dlt-original-offset", "base64:AAAAAAAAAfQ="],'
              ' ["kafka_dlt-original-timestamp", "base64:AAABjgAAAAA="],'
              ' ["traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],'
              ' ["kafka_dlt-original-topic", "shop.orders"]]')
    got = {h.name: h for h in decode_all(stored)}
    assert got["kafka_dlt-original-partition"].value == "2"
    assert got["kafka_dlt-original-offset"].value == "500"
    assert got["kafka_dlt-original-timestamp"].value.startswith("2024-03-")
    assert got["kafka_dlt-original-timestamp"].decoded == "time"
    assert got["traceparent"].trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert got["kafka_dlt-original-topic"].value == "shop.orders"


def test_business_identity_from_key_subject_and_value():
    who = identity("o-7", '[["ce_subject", "o-7"]]',
                   '{"eventId": "e1", "correlationId": "x", "data": {"orderId": "o-7", "accountId": "acc-3"}}')
    assert who.subject == "o-7"
    assert who.ids == {"orderId": "o-7", "accountId": "acc-3"}, "envelope bookkeeping ids are no business ids"
    assert who.describe() == "key o-7 · orderId o-7 · accountId acc-3"


def test_identity_of_change_events_debezium_and_kafka_connect_json():
    """A Debezium change event's row is in `after` (`before` for a delete), under Kafka Connect's
    `payload` when its JsonConverter writes the schema too: the customer was not found. A Connect
    value whose schema fills the first KiB is cut in the excerpt; the ids it still holds are read."""
    source = {"connector": "postgresql", "db": "shop", "table": "orders", "lsn": 33816, "txId": 771}
    created = {"before": None, "after": {"id": 1004, "customer_id": 7, "order_ref": "o-9"}, "source": source,
               "op": "c", "ts_ms": 1764000000000}
    assert identity("1004", None, json.dumps(created)).ids == {"customer_id": "7"}
    deleted = {"before": {"id": 1004, "customer_id": 7}, "after": None, "source": source, "op": "d"}
    assert identity("1004", None, json.dumps(deleted)).ids == {"customer_id": "7"}
    fields = [{"type": "int32", "optional": False, "field": f"column_{i}"} for i in range(12)]
    schema = {"type": "struct", "name": "shop.public.orders.Envelope", "fields": [
        {"type": "struct", "field": image, "fields": fields} for image in ("before", "after")]}
    connect = json.dumps({"schema": schema, "payload": created})
    assert len(connect) > 1024
    assert identity("1004", None, connect).ids == {"customer_id": "7"}
    cut = connect[:connect.index('"op"') + 3]  # as the excerpt's bound would cut it, past the row and its source
    assert identity("1004", None, cut).ids == {"customer_id": "7"}, "txId, a transaction id, is bookkeeping"


def test_a_kafka_connect_json_change_event_is_followed_to_its_customer(data, store):
    """A Debezium change event as Kafka Connect's JsonConverter writes it (schemas enabled, the
    default): the first KiB all schema (3,386 bytes a record in a real pipeline). Its excerpt kept the schema, so the record
    named no customer; it now keeps the payload, and the page says the schema was left out."""
    from dashboard.views.records import _pretty

    image = {"type": "struct", "optional": True, "name": "dbz.public.orders.Value", "fields": [
        {"type": "int32", "optional": False, "default": 0, "field": "id"},
        {"type": "int32", "optional": True, "field": "customer_id"},
        {"type": "string", "optional": True, "field": "order_ref"},
        {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
         "parameters": {"scale": "2", "connect.decimal.precision": "10"}, "field": "amount"},
        {"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp", "version": 1,
         "default": "1970-01-01T00:00:00.000000Z", "field": "updated_at"}]}
    schema = {"type": "struct", "name": "dbz.public.orders.Envelope", "version": 2, "optional": False, "fields": [
        {**image, "field": "before"}, {**image, "field": "after"},
        {"type": "struct", "name": "io.debezium.connector.postgresql.Source", "optional": False, "field": "source",
         "fields": [{"type": "string", "optional": False, "field": f} for f in ("version", "connector", "name", "db")]},
        {"type": "string", "optional": False, "field": "op"}, {"type": "int64", "optional": True, "field": "ts_ms"}]}
    payload = {"before": None, "after": {"id": 1, "customer_id": 101, "order_ref": "ORD-01", "amount": "BS0=",
                                         "updated_at": "2026-12-06T14:48:50.002363Z"},
               "source": {"version": "3.3.1.Final", "connector": "postgresql", "name": "dbz", "db": "shop"},
               "op": "c", "ts_ms": 1796568530000}
    value = json.dumps({"schema": schema, "payload": payload}, separators=(",", ":")).encode()
    assert len(value) > 1536  # the payload begins past the first KiB
    data.record("dbz.public.orders", 0, 0, at=0, key='{"id":1}', value=value)
    data.write()
    stored = rec.record(store.cursor(), "dbz.public.orders", 0, 0)
    assert identity(stored["key"], stored["headers"], stored["value_excerpt"]).ids == {"customer_id": "101"}
    text, lang, note = _pretty(stored["value_excerpt"], stored["value_size"])
    assert lang == "json" and json.loads(text) == {"payload": payload}
    assert note == "Kafka Connect JSON: its payload, without the schema before it"


def test_a_kafka_connect_json_key_reads_and_is_found_by_its_payload(data, store):
    """Debezium keys a row by its primary key, written by Connect's JsonConverter with its schema:
    a search for 74, "74" or {"id":74} found nothing, and the key read as its schema."""
    struct = '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],' \
             '"optional":false,"name":"dbz.public.orders.Key"},"payload":{"id":74}}'
    text = '{"schema":{"type":"string","optional":false},"payload":"o-1"}'
    data.record("dbz.public.orders", 0, 0, at=0, key=struct, value=None)
    data.record("dbz.public.orders", 0, 1, at=1, key=struct.replace(":74}", ":740}"), value=None)
    data.record("dbz.public.refs", 0, 0, at=2, key=text, value=None)
    data.record("plain", 0, 0, at=3, key="74", value=None)
    data.write()

    def found(key: str) -> list[tuple[str, int]]:
        hits = rec.search(store.cursor(), WINDOW, rec.RecordQuery(key=key))
        return sorted(zip(hits["topic"], hits["offset"], strict=True))

    assert found("74") == [("dbz.public.orders", 0), ("plain", 0)]
    assert found('{"id":74}') == [("dbz.public.orders", 0)]
    assert found("o-1") == [("dbz.public.refs", 0)]
    assert identity(struct, None, None).describe() == 'key {"id":74} (Kafka Connect JSON, its schema left out)'
    assert identity('{"schema": "mine"}', None, None).describe() == 'key {"schema": "mine"}'  # not Connect's


def test_a_binary_key_and_value_read_as_bytes_not_as_their_stored_form(data, store):
    """A key that is not UTF-8 is stored as ``base64:…``; a person reads its bytes, as for a binary header."""
    from dashboard.ui.record_evidence import identity_markdown
    from dashboard.views.records import _pretty

    data.record("drivers", 0, 5, at=0, key="base64://4AYmlu", value=None)
    data.write()
    stored = rec.record(store.cursor(), "drivers", 0, 5)
    who = identity(stored["key"], stored["headers"], stored["value_excerpt"])
    assert who.describe() == "key 6 bytes (hex) ff fe 00 62 69 6e"
    assert identity_markdown(who) == "**Key** `6 bytes (hex) ff fe 00 62 69 6e`"
    assert identity("base64", None, None).describe() == "key base64", "text stays text"
    assert _pretty("base64://4gZ2FyYmFnZSAAAQ==", 13) == ("//4gZ2FyYmFnZSAAAQ==", "text", "binary value, shown as base64")


def test_record_story_processings_copies_and_published_effects(data, store):
    """A record processed twice by invoicing, each time publishing an invoice; a DLT copy; a republish."""
    order = {"eventId": "e-1", "data": {"orderId": "o-1", "customerId": "c-9"}}
    t0 = data.trace_id()
    prod = data.produce(t0, "orders-api", "shop.orders", at=0)
    data.record("shop.orders", 0, 7, at=0, key="o-1", value=order, trace=(t0, prod))
    data.record("shop.orders", 0, 8, at=1, key="o-1", value=order)  # the same event published again
    invoices = []
    for n, at in enumerate((2, 40)):
        t = data.trace_id()
        p = data.process(t, "invoicing", "invoicing", "shop.orders", 0, 7, at=at, instance=f"inv-{n}")
        s = data.produce(t, "invoicing", "shop.invoices", at=at + 0.001, parent=p)
        data.record("shop.invoices", 0, n, at=at + 0.002, key="o-1", trace=(t, s),
                    value={"invoiceId": f"inv-{n}", "orderId": "o-1"})
        invoices.append(f"shop.invoices/0/{n}")
    data.record("shop.orders.DLT", 0, 0, at=50, key="o-1", value=order, headers=[
        ("kafka_dlt-original-topic", "shop.orders"), ("kafka_dlt-original-partition", b"\0\0\0\0"),
        ("kafka_dlt-original-offset", (7).to_bytes(8, "big"))])
    data.write()
    cur = store.cursor()
    r = rec.record(cur, "shop.orders", 0, 7)
    assert r is not None and r["key"] == "o-1" and r["trace_id"] == t0
    procs = rec.processings(cur, r)
    assert list(procs["instance"]) == ["inv-0", "inv-1"]
    spans = [s for effects in procs["effects"] for s in rec.effect_spans(effects)]
    made = rec.produced_by(cur, spans, since=r["timestamp"])
    assert [rec.record_id(t, p, o) for t, p, o in zip(made["topic"], made["partition"], made["offset"],
                                                      strict=True)] == invoices
    assert list(rec.dead_letter_copies(cur, r)["topic"]) == ["shop.orders.DLT"]
    again = rec.duplicate_publications(cur, r)
    assert list(again["offset"]) == [8] and bool(again["same_payload"].iloc[0])
    assert rec.record(cur, "shop.orders", 0, 99) is None
    # the findings say which order and customer, for `seamwatch findings --json` too
    [violation] = rule_findings(cur, WINDOW, None, "IDEMPOTENCY_VIOLATION")
    assert violation.evidence["messages"][0]["about"] == {"key": "o-1", "subject": None,
                                                         "ids": {"orderId": "o-1", "customerId": "c-9"}}
    [redelivery] = [f for f in rule_findings(cur, WINDOW, None, "REDELIVERY") if f.subject == "invoicing"]
    assert redelivery.evidence["records"][0]["about"]["key"] == "o-1"


def test_a_uuid_finds_the_records_keyed_by_its_16_bytes(data, store):
    """A Java or Avro producer writes a UUID key as 16 bytes, stored as base64: searching the claim
    id found nothing, and the record showed only its hex."""
    claim = uuid.UUID("6513270e-269e-4d37-a2a7-4de452e6b438")  # a version-4 UUID, as Java's randomUUID()
    data.record("claims", 0, 1, at=0, key="base64:" + base64.b64encode(claim.bytes).decode(), value=None)
    data.record("claims", 0, 2, at=1, key=str(claim), value=None)  # the same claim keyed by its text
    data.record("claims", 0, 3, at=2, key="base64:" + base64.b64encode(uuid.uuid4().bytes).decode(), value=None)
    data.write()
    found = rec.search(store.cursor(), WINDOW, rec.RecordQuery(key=str(claim).upper()))
    assert sorted(found["offset"]) == [1, 2]
    assert sorted(rec.search(store.cursor(), WINDOW, rec.RecordQuery(key=claim.hex))["offset"]) == [1, 2]
    assert list(rec.search(store.cursor(), WINDOW, rec.RecordQuery(key="o-1"))["offset"]) == []
    stored = rec.record(store.cursor(), "claims", 0, 1)
    assert identity(stored["key"], None, None).describe().endswith(f"(as a UUID {claim})")
    md5 = "base64:" + base64.b64encode(bytes.fromhex("9e107d9d372bb6826bd81d3542a419d6")).decode()
    assert "UUID" not in identity(md5, None, None).describe()  # 16 bytes, but no UUID's layout
