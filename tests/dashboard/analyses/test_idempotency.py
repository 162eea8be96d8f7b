"""Idempotency: a duplicate absorbed by the consumer vs one that produced a second effect."""

from __future__ import annotations

from dashboard.analyses import idempotency as idem
from tests.support.rules import rule_findings


def _order_published(data, offset, event_id, at):
    t = data.trace_id()
    send = data.produce(t, "orders-api", "shop.orders", at=at)
    data.record("shop.orders", 0, offset, at=at, value={"eventId": event_id, "type": "OrderCreated"}, trace=(t, send))
    return t, send


def test_absorbed_duplicate_vs_violation_with_evidence(data, store, window):
    t, send = _order_published(data, 1, "o-1", at=0)
    # email: first delivery sends the mail (POST) and records the id; the redelivery only reads
    p1 = data.process(t, "email-service", "email", "shop.orders", 0, 1, at=1, parent=send, instance="e-1")
    data.span(t, "email-service", "client", "POST /send", at=1.1, parent=p1, attrs={"http.request.method": "POST"})
    data.span(t, "email-service", "client", "INSERT processed", at=1.2, parent=p1,
              attrs={"db.system": "postgresql", "db.operation.name": "INSERT"})
    p2 = data.process(t, "email-service", "email", "shop.orders", 0, 1, at=30, parent=send, instance="e-2")
    data.span(t, "email-service", "client", "SELECT processed", at=30.1, parent=p2,
              attrs={"db.system": "postgresql", "db.query.text": "SELECT 1 FROM processed WHERE id = $1"})
    # invoicing: both deliveries write an invoice (nested under a handler span) and publish InvoiceIssued
    firsts = []
    for i, at in enumerate((2, 40)):
        p = data.process(t, "invoicing-service", "invoicing", "shop.orders", 0, 1, at=at, parent=send,
                         instance=f"inv-{i}")
        h = data.span(t, "invoicing-service", "internal", "issue invoice", at=at + 0.1, parent=p)
        data.span(t, "invoicing-service", "client", "INSERT invoices", at=at + 0.2, parent=h,
                  attrs={"db.system": "postgresql", "db.operation.name": "insert"})
        out = data.produce(t, "invoicing-service", "shop.invoices", at=at + 0.3, parent=h)
        # the downstream consumer's write is not invoicing's effect
        c = data.process(t, "reporting-service", "reporting", "shop.invoices", 0, i, at=at + 1, parent=out)
        data.span(t, "reporting-service", "client", "INSERT report", at=at + 1.1, parent=c,
                  attrs={"db.operation.name": "INSERT"})
        firsts.append(p)
    # analytics read it once: not a duplicate at all
    data.process(t, "analytics-service", "analytics", "shop.orders", 0, 1, at=3, parent=send)
    data.write()

    dup = idem.duplicates(store.cursor(), window)
    verdicts = {r.group: (r.verdict, r.processings, r.effectful) for r in dup.itertuples(index=False)}
    assert verdicts == {"email": ("absorbed", 2, 1), "invoicing": ("violation", 2, 2)}

    inv = dup[dup["group"] == "invoicing"].iloc[0]
    assert inv["event_id"] == "o-1"
    assert [p["span_id"] for p in inv["evidence"]] == firsts
    effects = [(e["effect"], e["target"]) for p in inv["evidence"] for e in p["effects"]]
    assert effects == [("db_write", "postgresql INSERT"), ("event", "shop.invoices")] * 2

    found = rule_findings(store.cursor(), window, None, "IDEMPOTENCY_VIOLATION")
    assert [(f.rule, f.subject, f.count) for f in found] == [("IDEMPOTENCY_VIOLATION", "invoicing", 1)]
    assert found[0].evidence["messages"][0]["processings"][1]["instance"] == "inv-1"

    summ = idem.summary(store.cursor(), window).set_index("group")
    assert summ.loc["email", "absorbed"] == 1 and summ.loc["email", "violations"] == 0


def test_one_event_id_published_twice_and_processed_twice_is_one_message(data, store, window):
    for offset, at in ((5, 0), (6, 1)):
        t, send = _order_published(data, offset, "o-5", at=at)
        p = data.process(t, "invoicing-service", "invoicing", "shop.orders", 0, offset, at=at + 2, parent=send)
        data.span(t, "invoicing-service", "client", "POST /invoices", at=at + 2.1, parent=p,
                  attrs={"http.method": "post", "peer.service": "billing-api"})
    data.write()
    dup = idem.duplicates(store.cursor(), window)
    assert dup[["group", "verdict", "processings"]].values.tolist() == [["invoicing", "violation", 2]]
    assert dup["offsets"].iloc[0] == [(0, 5), (0, 6)]


def test_same_causation_id_twice_from_one_group_without_traces(data, store, window):
    for offset, eid in ((0, "inv-1"), (1, "inv-2")):
        data.record("shop.invoices", 0, offset, at=offset, value={
            "eventId": eid, "type": "InvoiceIssued", "causationId": "o-1", "source": "invoicing-service"})
    data.record("shop.invoices", 0, 2, at=3, value={
        "eventId": "inv-3", "type": "InvoiceIssued", "causationId": "o-2", "source": "invoicing-service"})
    data.write()
    cau = idem.causation_duplicates(store.cursor(), window)
    assert cau[["group", "causation_id", "events"]].values.tolist() == [["invoicing-service", "o-1", 2]]
    found = rule_findings(store.cursor(), window, None, "IDEMPOTENCY_VIOLATION")
    assert [(f.subject, f.count) for f in found] == [("invoicing-service", 1)]


def test_a_batch_consumer_processing_a_batch_twice_is_seen_per_record(data, store, window):
    """OpenTelemetry's batch processing: one CONSUMER span per batch, no offset of its own, a link to
    each message's producer span. A batch processed twice (a rebalance before the commit) wrote
    twice: no processing was derived from such spans, so neither redeliveries nor idempotency saw it.
    Each link's record is found by its attributes, by the record's traceparent, or by the producer
    span's own offset."""
    from dashboard.analyses import redeliveries as rd

    links = []
    for i in range(6):
        t, send = _order_published(data, 10 + i, f"o-{i}", at=i * 0.1)
        if i == 0:  # the link says where its message is
            links.append((t, send, {"messaging.destination.partition.id": "0", "messaging.kafka.offset": 10}))
        elif i == 5:  # the tap never read it, but the producer span knows its offset
            data.records.pop()
            data.spans[-1]["partition"], data.spans[-1]["offset"] = 0, 15
            links.append((t, send))
        else:  # the tap's record carries the link as its traceparent
            links.append((t, send))
    links.append(("f" * 32, "e" * 16))  # a message nothing places: no delivery
    for at, instance in ((2, "s-1"), (8, "s-2")):
        t = data.trace_id()
        batch = data.process(t, "settlement", "settlement", "shop.orders", at=at, links=links, instance=instance,
                             attrs={"messaging.batch.message_count": 7})
        data.span(t, "settlement", "client", "INSERT settlements", at=at + 0.1, parent=batch,
                  attrs={"db.system": "postgresql", "db.operation.name": "INSERT"})
    data.write()

    rows = store.cursor().execute('SELECT "offset", count(*) FROM processings WHERE grp = ? GROUP BY ALL ORDER BY 1',
                                  ["settlement"]).fetchall()
    assert rows == [(o, 2) for o in range(10, 16)]
    dup = idem.duplicates(store.cursor(), window)
    assert sorted(dup.loc[dup["group"] == "settlement", "verdict"]) == ["violation"] * 6
    found = rule_findings(store.cursor(), window, None, "IDEMPOTENCY_VIOLATION")
    assert [(f.subject, f.count) for f in found] == [("settlement", 6)]
    assert len(rd.redeliveries(store.cursor(), window)) == 6
