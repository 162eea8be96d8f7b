"""The Trace page over the sample store: a deep link opens the trace at the linked span's segment,
shows that span in full, and leads to the producer's trace and back."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from tests.support.markdown import as_read


@pytest.fixture
def linked_pair(sample_db) -> tuple[str, str, str, str]:
    """(consumer trace, consumer span, producer trace, producer span) of a message whose consumer
    runs in its own trace, linked to the producer span."""
    with Store(sample_db, read_only=True) as store:
        row = store.cursor().execute("""SELECT consumer_trace_id, consumer_span_id, producer_trace_id, producer_span_id
                             FROM message_lag WHERE pairing = 'link' AND consumer_group = 'email'
                             ORDER BY process_start DESC LIMIT 1""").fetchone()
    assert row is not None
    return row


def _open(at: AppTest, **params: str) -> AppTest:
    at.query_params.update({"page": "trace", "range": "all", **params})  # as a link opens it: one run
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _labels(at: AppTest) -> list[str]:
    return [as_read(b.label) for b in at.button if b.key and b.key.startswith("trace_")]


def _click(at: AppTest, *words: str) -> dict[str, str]:
    """Click the producer/consumer/parent button whose label holds all ``words``; the params it opened."""
    button = next((b for b in at.button if b.key and b.key.startswith("trace_")
                   and all(w in as_read(b.label) for w in words)), None)
    assert button is not None, (words, _labels(at))
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return dict(at.query_params.items())


def test_a_consumer_span_link_opens_its_segment_and_reaches_the_producer(app: AppTest, shown, linked_pair) -> None:
    ct, cs, pt, ps = linked_pair
    at = _open(app, trace=ct, span=cs)
    assert at.selectbox(key=f"trace_segment_{ct}").value == cs, "the consumer's segment, not the request's"
    assert at.query_params["span"] == cs
    text = shown.text(at)
    assert "email-service · process shop.orders" in text or "process shop.orders" in text
    assert "Attributes" in text and "Events" in text
    assert any(label.startswith("Producer:") and "paired by link" in label for label in _labels(at)), _labels(at)
    opened = _click(at, "Producer:")
    assert (opened["trace"], opened["span"]) == (pt, ps)
    assert at.selectbox(key=f"trace_segment_{pt}").value not in (None, cs)
    # … and from the producer span back to this consumer
    back = _click(at, "Consumer:", f"in trace {ct[:12]}")
    assert (back["trace"], back["span"]) == (ct, cs)


def test_a_consumer_in_the_requests_own_trace_opens_at_its_segment(app: AppTest, sample_db) -> None:
    """Event lag's trace links name the consumer span: the view opens there, not at the request."""
    with Store(sample_db, read_only=True) as store:
        con = store.cursor()
        trace, span, producer = con.execute(
            """SELECT consumer_trace_id, consumer_span_id, producer_span_id FROM message_lag
               WHERE pairing = 'parent' ORDER BY process_start DESC LIMIT 1""").fetchone()
        root = con.execute("SELECT root_span_id FROM trace_facts WHERE trace_id = ?", [trace]).fetchone()[0]
    at = _open(app, trace=trace, span=span)
    assert root != span
    assert at.selectbox(key=f"trace_segment_{trace}").value == span
    assert any(label.startswith("Producer:") and "in this trace" in label for label in _labels(at)), _labels(at)
    opened = _click(at, "Producer:")
    assert (opened["trace"], opened["span"]) == (trace, producer)
    assert at.selectbox(key=f"trace_segment_{trace}").value == root, "the producer's segment: the request"


def test_the_producer_span_leads_back_to_its_consumers(app: AppTest, shown, linked_pair) -> None:
    ct, cs, pt, ps = linked_pair
    at = _open(app, trace=pt, span=ps)
    assert at.query_params["span"] == ps
    assert "Messages in and out" in shown.text(at)
    opened = _click(at, "Consumer:", f"in trace {ct[:12]}")
    assert (opened["trace"], opened["span"]) == (ct, cs)


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
