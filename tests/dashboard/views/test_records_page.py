"""The Records page and the record evidence on other pages, over the sample shop (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard.analyses import idempotency as idem
from dashboard.analyses import records as recs
from dashboard.analyses.window import Window
from tests.support.markdown import as_read


@pytest.fixture
def double_invoice(sample_db):
    """The sample's non-idempotent invoicing: the order record it processed twice."""
    with Store(sample_db, read_only=True) as store:
        dup = idem.duplicates(store.cursor(), Window.everything(store.cursor()))
        viol = dup[(dup["verdict"] == "violation") & (dup["group"] == "invoicing")].iloc[0]
        partition, offset = viol["offsets"][0]
        rec = recs.record(store.cursor(), viol["topic"], partition, offset)
        return {"topic": viol["topic"], "partition": partition, "offset": offset, "key": rec["key"],
                "message": viol["message"], "account": rec["value_excerpt"].split('"accountId":"')[1].split('"')[0]}


def _open(app: AppTest, page: str, **params: str) -> AppTest:
    app.query_params["page"] = page
    app.query_params["range"] = "all"
    for k, v in params.items():
        app.query_params[k] = v
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _frames(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def test_search_by_key_lists_the_order_and_its_invoices(app, shown, double_invoice):
    at = _open(app, "records", key=double_invoice["key"])
    assert not at.error
    results = _frames(at)[-1]
    topics = list(results["topic"])
    assert double_invoice["topic"] in topics
    assert topics.count("shop.invoices") == 2, "both invoices are keyed by the order"
    assert f"{len(results):,} records match, newest first" in shown.text(at)


def test_search_by_json_path_finds_the_customer(app, shown, double_invoice):
    at = _open(app, "records", topic="shop.orders", value=f'$.data.accountId == "{double_invoice["account"]}"')
    assert not at.error
    results = _frames(at)[-1]
    assert len(results) >= 1 and set(results["topic"]) == {"shop.orders"}
    assert double_invoice["key"] in set(results["key"])


def test_bad_json_path_is_one_line_and_the_form_stays(app, shown):
    at = _open(app, "records", value="$.customerId = 'c-42'")
    assert len(at.error) == 1 and "expected '=='" in as_read(at.error[0].value) and "\n" not in at.error[0].value
    assert at.text_input(key="rec_value").value == "$.customerId = 'c-42'", "the input is kept to fix it"


def test_record_detail_tells_its_whole_story(app, shown, double_invoice):
    d = double_invoice
    at = _open(app, "records", record=f"{d['topic']}/{d['partition']}/{d['offset']}")
    text = shown.text(at)
    assert d["key"] in text and d["account"] in text, "key and customer on screen"
    assert "invoicing: 2 processings" in text
    frames = _frames(at)
    headers = frames[0]
    assert "traceparent" in set(headers["header"]) and (headers["trace"] != "").sum() == 1, "traceparent links its trace"
    procs = next(f for f in frames if "side_effects" in f)
    assert (procs["group"] == "invoicing").sum() == 2
    published = next(f for f in frames if "who" in f)
    invoices = published[published["topic"] == "shop.invoices"]
    assert len(invoices) == 2 and all(d["account"] not in w or d["key"] in w for w in invoices["who"])
    assert all("records?" in link and "record=shop.invoices" in link for link in invoices["record"])


def test_a_dead_letter_shows_spring_headers_as_numbers(app, shown):
    at = _open(app, "records", topic="shop.orders.DLT")
    results = _frames(at)[-1]
    first = results.iloc[0]
    at = _open(app, "records", record=f"{first['topic']}/{first['partition']}/{first['offset']}")
    headers = _frames(at)[0].set_index("header")
    assert headers.loc["kafka_dlt-original-partition", "value"].isdigit()
    assert headers.loc["kafka_dlt-original-offset", "value"].isdigit()
    assert headers.loc["kafka_dlt-original-timestamp", "as"] == "time"
    assert "**Dead letter** of `shop.orders/" in shown.text(at)
    assert any(link.proto.label.startswith("Its origin record shop") for link in at.get("page_link")), \
        "a dead letter links its origin record"


def test_an_unknown_record_says_so(app, shown):
    at = _open(app, "records", record="shop.orders/0/99999999")
    assert not at.error
    assert any("holds no record" in w.value for w in at.warning)


def test_idempotency_evidence_names_the_order_the_customer_and_both_invoices(app, shown, double_invoice):
    d = double_invoice
    at = _open(app, "idempotency", group="invoicing", record=d["message"])
    text = shown.text(at)
    assert d["key"] in text and d["account"] in text, "the order and the customer are on screen"
    evidence = next(f for f in _frames(at) if "effect" in f and "record" in f)
    assert all(f"record={d['topic']}" in link.replace("%2F", "/") for link in evidence["record"])
    published = next(f for f in _frames(at) if "who" in f)
    assert list(published["topic"]).count("shop.invoices") == 2


def test_a_schema_registry_value_reads_as_its_decoded_json(app, shown):
    at = _open(app, "records", topic="shop.accounts")
    first = _frames(at)[-1].iloc[0]
    at = _open(app, "records", record=f"{first['topic']}/{first['partition']}/{first['offset']}")
    assert "Avro decoded through its registered schema" in shown.text(at)
    assert '"eventType": "ProfileUpdated"' in at.code[0].value, "pretty-printed JSON, not the framed bytes"
