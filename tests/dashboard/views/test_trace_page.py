"""The Trace page over the sample store: a deep link opens the trace at the linked span's segment,
shows that span in full, and leads to the producer's trace and back."""

from __future__ import annotations

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.support.markdown import as_read


@pytest.fixture(scope="module")
def linked_pair(sample_db) -> tuple[str, str, str, str]:
    """(consumer trace, consumer span, producer trace, producer span) of a message whose consumer
    runs in its own trace, linked to the producer span."""
    con = duckdb.connect(str(sample_db), read_only=True)
    try:
        row = con.execute("""SELECT consumer_trace_id, consumer_span_id, producer_trace_id, producer_span_id
                             FROM message_lag WHERE pairing = 'link' AND consumer_group = 'email'
                             ORDER BY process_start DESC LIMIT 1""").fetchone()
    finally:
        con.close()
    assert row is not None
    return row


def _open(at: AppTest, **params: str) -> AppTest:
    at.query_params.update({"range": "all", **params})
    at.run()
    at.switch_page("views/trace.py")
    at.query_params.update({"range": "all", **params})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _links(at: AppTest) -> list[tuple[str, dict]]:
    return [(p.proto.label, dict(p.proto.query_string and
                                 [kv.split("=", 1) for kv in p.proto.query_string.split("&")]))
            for p in at.get("page_link")]


def test_a_consumer_span_link_opens_its_segment_and_reaches_the_producer(app: AppTest, shown, linked_pair) -> None:
    ct, cs, pt, ps = linked_pair
    at = _open(app, trace=ct, span=cs)
    assert at.selectbox(key=f"trace_segment_{ct}").value == cs, "the consumer's segment, not the request's"
    assert at.query_params["span"] == cs
    text = shown.text(at)
    assert "email-service · process shop.orders" in text or "process shop.orders" in text
    assert "Attributes" in text and "Events" in text
    ups = [(label, q) for label, q in _links(at) if label.startswith("Producer:")]
    assert ups and ups[0][1]["trace"] == pt and ups[0][1]["span"] == ps, _links(at)
    assert "paired by link" in ups[0][0]


def test_a_consumer_in_the_requests_own_trace_opens_at_its_segment(app: AppTest, sample_db) -> None:
    """Event lag's trace links name the consumer span: the view opens there, not at the request."""
    con = duckdb.connect(str(sample_db), read_only=True)
    try:
        trace, span, producer = con.execute(
            """SELECT consumer_trace_id, consumer_span_id, producer_span_id FROM message_lag
               WHERE pairing = 'parent' ORDER BY process_start DESC LIMIT 1""").fetchone()
        root = con.execute("SELECT root_span_id FROM trace_facts WHERE trace_id = ?", [trace]).fetchone()[0]
    finally:
        con.close()
    at = _open(app, trace=trace, span=span)
    assert root != span
    assert at.selectbox(key=f"trace_segment_{trace}").value == span
    assert [q["span"] for label, q in _links(at) if label.startswith("Producer:")] == [producer]
    assert any("in this trace" in label for label, _ in _links(at))


def test_the_producer_span_leads_back_to_its_consumers(app: AppTest, shown, linked_pair) -> None:
    ct, cs, pt, ps = linked_pair
    at = _open(app, trace=pt, span=ps)
    assert at.query_params["span"] == ps
    downs = [q for label, q in _links(at) if label.startswith("Consumer:")]
    assert {"trace": ct, "span": cs} in [{"trace": q["trace"], "span": q["span"]} for q in downs], _links(at)
    assert "Messages in and out" in shown.text(at)


def test_a_span_shows_its_status_and_attributes(app: AppTest, shown, linked_pair) -> None:
    ct, cs, _, _ = linked_pair
    at = _open(app, trace=ct, span=cs)
    attrs = [df for df in (e.value for e in at.dataframe) if "name" in df.columns and "value" in df.columns]
    names = set().union(*(set(df["name"]) for df in attrs))
    assert "messaging.destination.name" in names or "messaging.kafka.destination.partition" in names, names
    assert any(m.label == "Duration" for m in at.metric)


def test_a_malformed_trace_link_is_refused_as_text(app: AppTest, shown) -> None:
    at = _open(app, trace="<a href=x>not-a-trace</a>")
    assert any("is not a trace id" in as_read(w.value) for w in at.warning)
    assert "trace" not in at.query_params or at.query_params["trace"] != "<a href=x>not-a-trace</a>"
