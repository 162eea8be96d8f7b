"""Event design rules: commands as events, envelopes, trace context, keys; the name classifier."""

from __future__ import annotations

import pytest

from dashboard.analyses import event_design as ed
from dashboard.analyses import naming
from tests.support.rules import rule_findings

ED_RULES = ("EVENT_AS_COMMAND", "ENVELOPE_MISSING", "MISSING_TRACE_CONTEXT", "NULL_OR_UNSTABLE_KEY")


@pytest.mark.parametrize(("name", "verdict"), [
    ("CreateInvoice", "command"), ("SendWelcomeEmail", "command"), ("UpdateReportingDatabase", "command"),
    ("shop.create-invoice", "command"), ("shop.send-welcome-email", "command"), ("reserve_stock", "command"),
    ("PaymentCaptured", "fact"), ("OrderCreated", "fact"), ("ProfileUpdated", "fact"),
    ("EnrollmentCompleted", "fact"), ("InvoiceIssued", "fact"), ("EmailSent", "fact"), ("OrderPaid", "fact"),
    ("com.shop.payment.captured", "fact"), ("shop.orders", "noun"), ("payments.v2", "noun"), ("FeedItem", "noun"),
    ("payouts.reissue-payment", "command"), ("ReprocessOrder", "command"), ("resubmit_claim", "command"),
    ("report-requests", "noun"), ("records", "noun"), ("research.papers", "noun"), ("returns", "noun"),
])
def test_names_are_classified_as_facts_commands_or_nouns(name, verdict):
    assert naming.classify(name)[0] == verdict


def _trace(data):
    t = data.trace_id()
    return t, data.produce(t, "orders-api", "x", at=0)


def _full(eid, etype="OrderCreated"):
    return {"eventId": eid, "type": etype, "occurredAt": "2026-03-02T12:00:00Z", "version": "1"}


def test_each_design_rule_fires_on_its_own_topic_only(data, store, window):
    # healthy: full envelope, trace context, keyed by the order id
    for i in range(3):
        data.record("shop.orders", 0, i, at=i, key=f"order-{i}", value=_full(f"o-{i}"), trace=_trace(data))
    # EVENT_AS_COMMAND: the topic name and its type are commands
    data.record("shop.create-invoice", 0, 0, at=1, key="order-1", value=_full("c-1", "CreateInvoice"),
                trace=_trace(data))
    # ENVELOPE_MISSING: no id and no version; and a CloudEvents record without specversion/source
    data.record("shop.accounts", 0, 0, at=2, key="acc-1", value={"type": "ProfileUpdated", "occurredAt": 1},
                trace=_trace(data))
    data.record("shop.payments", 0, 0, at=3, key="pay-1", value={"amount": 1}, trace=_trace(data), headers=[
        ("ce_id", "p-1"), ("ce_type", "PaymentCaptured"), ("ce_time", "2026-03-02T12:00:03Z"),
        ("ce_dataversion", "2")])
    # MISSING_TRACE_CONTEXT: a producer without instrumentation
    data.record("shop.loyalty", 0, 0, at=4, key="m-1", value=_full("l-1", "EnrollmentCompleted"))
    # NULL_OR_UNSTABLE_KEY: no key, and one event id under two keys
    data.record("shop.invoices", 0, 0, at=5, key=None, value=_full("i-1", "InvoiceIssued"), trace=_trace(data))
    data.record("shop.invoices", 0, 1, at=6, key="order-1", value=_full("i-2", "InvoiceIssued"), trace=_trace(data))
    data.record("shop.invoices", 1, 0, at=7, key="order-2", value=_full("i-2", "InvoiceIssued"), trace=_trace(data))
    # dead letters are not judged
    data.record("shop.orders.DLT", 0, 0, at=8, key=None, value={"broken": True})
    data.write()

    found = {(f.rule, f.subject): f for f in rule_findings(store.cursor(), window, None, *ED_RULES) if f.severity != "info"}
    assert set(found) == {
        ("EVENT_AS_COMMAND", "shop.create-invoice"),
        ("ENVELOPE_MISSING", "shop.accounts"),
        ("ENVELOPE_MISSING", "shop.payments"),
        ("MISSING_TRACE_CONTEXT", "shop.loyalty"),
        ("NULL_OR_UNSTABLE_KEY", "shop.invoices"),
    }
    cmd = found[("EVENT_AS_COMMAND", "shop.create-invoice")]
    assert cmd.evidence["command_types"] == ["CreateInvoice"] and cmd.count == 1
    acc = found[("ENVELOPE_MISSING", "shop.accounts")].evidence["event_types"]["ProfileUpdated"]["missing"]
    assert acc == {"missing_id": 1, "missing_version": 1}
    ce = found[("ENVELOPE_MISSING", "shop.payments")].evidence["event_types"]["PaymentCaptured"]["missing"]
    assert ce == {"ce_missing_specversion": 1, "ce_missing_source": 1}
    keys = found[("NULL_OR_UNSTABLE_KEY", "shop.invoices")]
    assert keys.evidence["null_key"] == 1 and keys.evidence["sample_ids"] == ["i-2"]


def test_a_cloudevent_without_its_id_is_said_to_lack_it_once(data, store, window):
    """Binary mode with ce_type and no ce_id: the id is a CloudEvents gap, not also a plain one."""
    data.record("parcels.scanned", 0, 0, at=1, key="p-1", value={"parcelId": 1}, trace=_trace(data), headers=[
        ("ce_type", "ParcelScanned"), ("ce_source", "/scanners"), ("ce_specversion", "1.0")])
    data.write()
    [finding] = [f for f in rule_findings(store.cursor(), window, None, "ENVELOPE_MISSING")]
    assert finding.summary.startswith("events on parcels.scanned lack: CloudEvents id, time, version ")
    assert set(finding.evidence["event_types"]["ParcelScanned"]["missing"]) == {
        "missing_id", "ce_missing_id", "missing_time", "missing_version"}


def test_a_json_envelope_beside_a_ce_type_header_is_read(data, store, window):
    """A producer that sets only ce_type, its value carrying id, time and version: the event has
    them (its id counts for idempotency), and only CloudEvents' own id attribute is said missing."""
    value = {"id": "loan-created-7", "type": "LoanCreated", "time": "2026-03-02T12:00:01Z", "version": 2, "loanId": 7}
    data.record("library.loans", 0, 0, at=1, key="m-1", value=value, trace=_trace(data), headers=[
        ("ce_type", "LoanCreated"), ("ce_source", "/loans"), ("ce_specversion", "1.0")])
    data.write()
    row = store.cursor().execute("SELECT envelope, event_id, event_time, event_version FROM records").fetchone()
    assert row[0] == "cloudevents-binary" and row[1] == "loan-created-7" and row[3] == "2"
    assert row[2] is not None
    [finding] = [f for f in rule_findings(store.cursor(), window, None, "ENVELOPE_MISSING")]
    assert finding.summary.startswith("events on library.loans lack: CloudEvents id "), finding.summary
    assert set(finding.evidence["event_types"]["LoanCreated"]["missing"]) == {"ce_missing_id"}
    # the design scorecard: a time in the value, so "timestamps" passes; "ids" fails, as CloudEvents'
    # identity (source and id) is incomplete
    from dashboard.findings.scorecard import scorecard

    card = {r["line"]: r for r in scorecard(store.cursor(), window, [finding])}
    assert (card["timestamps"]["status"], card["versions"]["status"], card["ids"]["status"]) == ("pass", "pass", "fail")


def test_wire_format_values_kept_undecoded_are_not_judged_for_their_envelope(data, store, window):
    """A schema-registry value whose schema could not be had (no --schemas file, registry down)
    is stored as bytes: its envelope is unknown, not missing (ingest_errors says why)."""
    avro = b"\x00\x00\x00\x00\x02\x12refund-1\x18RefundIssued\x021\xe4\xa0\xa1\xd8\xc7h"  # not UTF-8
    ascii_avro = b"\x00\x00\x00\x00\x03\x10refund-2"  # valid UTF-8: its excerpt is text, not base64
    data.record("shop.refunds", 0, 0, at=1, key="o-1", value=avro, trace=_trace(data))
    data.record("shop.refunds", 0, 1, at=2, key="o-2", value=ascii_avro, trace=_trace(data))
    # bytes that are no wire format (a first byte other than 0) stay judged
    data.record("shop.blobs", 0, 0, at=3, key="b-1", value=b"\x01\x00\x00\x00\x02\xff\xfe", trace=_trace(data))
    data.write()
    found = {(f.rule, f.subject) for f in rule_findings(store.cursor(), window, None, *ED_RULES)}
    assert ("ENVELOPE_MISSING", "shop.refunds") not in found
    assert ("ENVELOPE_MISSING", "shop.blobs") in found
    types = ed.event_types(store.cursor(), window).set_index("topic")
    assert int(types.loc["shop.refunds", "undecoded"]) == 2 and int(types.loc["shop.refunds", "incomplete"]) == 0
    assert int(types.loc["shop.blobs", "undecoded"]) == 0


def test_a_noun_event_type_is_only_info_and_key_equal_to_event_id_is_unstable(data, store, window):
    for i in range(ed.KEY_MIN_RECORDS):
        data.record("shop.audit", 0, i, at=i, key=f"e-{i}", value=_full(f"e-{i}", "AuditEntry"), trace=_trace(data))
    data.write()
    found = {f.rule: f for f in rule_findings(store.cursor(), window, None, *ED_RULES)}
    assert found["EVENT_AS_COMMAND"].severity == "info"
    assert found["NULL_OR_UNSTABLE_KEY"].evidence["key_is_event_id"] == ed.KEY_MIN_RECORDS


def test_consumers_starting_fresh_traces_show_lost_context_where_nothing_was_tapped(data, store, window):
    data.process(data.trace_id(), "email-service", "email", "shop.untapped", 0, 1, at=1)
    data.write()
    found = [f for f in rule_findings(store.cursor(), window, None, *ED_RULES) if f.rule == "MISSING_TRACE_CONTEXT"]
    assert [(f.subject, f.count, f.evidence["source"]) for f in found] == [("shop.untapped", 1, "spans")]


def test_database_change_events_are_named_as_such(data, store, window):
    """A Debezium topic (its context headers; or, without them, a value holding a row's before and
    after images and the operation) lacks an envelope because it carries a table's rows, not
    domain events: the finding says so, and where domain events come from instead."""
    row = {"id": 1, "customer_id": 7, "status": "NEW"}
    headers = [("__debezium.context.connectorLogicalName", "dbz"), ("__debezium.context.taskId", "0")]
    for i in range(3):
        data.record("dbz.public.orders", 0, i, at=i, key=f'{{"id":{i}}}', headers=headers,
                    value={"before": None, "after": row, "source": {"connector": "postgresql"}, "op": "c"})
        data.record("legacy.orders", 0, i, at=i, key=f"o-{i}",  # no headers: an older Debezium
                    value={"schema": {"type": "struct"}, "payload": {"before": row, "after": None, "op": "d"}})
        data.record("shop.notes", 0, i, at=i, key=f"n-{i}", value={"text": "an after-thought", "op": "x"})
    data.write()
    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "ENVELOPE_MISSING")}
    for topic in ("dbz.public.orders", "legacy.orders"):
        assert found[topic].summary.endswith(
            "; they are database change events (Debezium: a table's rows as they change), not domain events: "
            "publish those from the service, through a transactional outbox"), found[topic].summary
        assert found[topic].evidence["change_events"] == "100% of the records sampled"
    assert "change events" not in found["shop.notes"].summary
