"""The design scorecard: findings fail the subjects of their line; every other observed subject passes."""

from __future__ import annotations

from dashboard.findings import registry
from dashboard.findings.scorecard import judges, scorecard


def _finding(rule, subject, severity="warning", **evidence):
    return registry.rule(rule).finding(subject_kind="topic", subject=subject, count=1, first_seen=None,
                                       last_seen=None, summary="s", evidence=evidence, severity=severity)


def test_each_finding_fails_its_line_and_the_rest_pass(data, store, window):
    for i, topic in enumerate(("shop.orders", "shop.loyalty", "shop.parcels", "shop.orders.DLT")):
        data.record(topic, 0, 0, at=i, key="k")
    t = data.trace_id()
    data.produce(t, "loyalty-api", "shop.loyalty", at=5)
    data.produce(t, "orders-api", "shop.orders", at=6)
    data.process(t, "tracking-service", "tracking", "shop.parcels", 0, 0, at=7)
    data.write()
    found = [
        _finding("ENVELOPE_MISSING", "shop.loyalty", event_types={"E": {"missing": {"missing_version": 3}}}),
        _finding("OUT_OF_ORDER_PROCESSING", "tracking", topic="shop.parcels"),
        _finding("PHANTOM_EVENT", "loyalty-api -> shop.loyalty", severity="error"),
        _finding("EVENT_AS_COMMAND", "shop.orders", severity="info"),  # below warning: no failure
    ]
    card = {r["line"]: r for r in scorecard(store.cursor(), window, found)}
    # the dead-letter topic is its origin's: three topics judged
    assert (card["versions"]["observed"], card["versions"]["fail"]) == (3, 1)
    assert [x["subject"] for x in card["versions"]["failing"]] == ["shop.loyalty"]
    assert card["ids"]["fail"] == card["timestamps"]["fail"] == 0  # only the version is missing
    assert [x["subject"] for x in card["ordering"]["failing"]] == ["shop.parcels"]
    assert card["facts"]["status"] == "pass"
    commit = card["commit_then_publish"]
    assert (commit["kind"], commit["observed"], commit["pass"], commit["fail"]) == ("publisher", 2, 1, 1)
    assert commit["failing"][0]["findings"] == [{"rule": "PHANTOM_EVENT", "severity": "error",
                                                 "finding": "PHANTOM_EVENT:loyalty-api -> shop.loyalty",
                                                 "page": "event-design"}]
    assert card["idempotent"]["observed"] == 1 and card["idempotent"]["status"] == "pass"


def test_groups_seen_only_by_their_offsets_do_not_pass_the_idempotency_line(data, store, window):
    """A group whose committed offsets were polled but whose processing was never seen shows
    nothing of how it handles duplicates: it is counted apart, not as passing."""
    t = data.trace_id()
    data.process(t, "invoicing-service", "invoicing", "shop.orders", 0, 0, at=1)
    data.process(t, "email-service", "email", "shop.orders", 0, 0, at=2)
    for i, group in enumerate(("reporting", "warehouse-sink", "audit")):
        data.poll(group, "shop.orders", 0, 5, at=3 + i)
    data.write()
    found = [_finding("IDEMPOTENCY_VIOLATION", "invoicing", severity="error")]
    card = {r["line"]: r for r in scorecard(store.cursor(), window, found)}
    idem = card["idempotent"]
    assert (idem["observed"], idem["pass"], idem["fail"], idem["unobserved"]) == (2, 1, 1, 3)
    # the dead-letter line still judges every group, offsets included
    assert (card["dead_letters"]["observed"], card["dead_letters"]["unobserved"]) == (5, 0)
    assert judges(idem) == "2 observed groups; 3 seen only by their offsets"
    assert judges(card["dead_letters"]) == "5 groups"
