"""Commit, then publish: PUBLISH_BEFORE_COMMIT and PHANTOM_EVENT over one request's spans."""

from __future__ import annotations

from tests.support.rules import rule_findings

RULES = ("PUBLISH_BEFORE_COMMIT", "PHANTOM_EVENT")


def _db(data, trace, service, statement, *, at, dur=0.01, parent, error=False, old=False):
    attrs = ({"db.system": "postgresql", "db.statement": statement} if old else
             {"db.system.name": "postgresql", "db.query.text": statement})
    return data.span(trace, service, "client", statement.split()[0], at=at, dur=dur, parent=parent, attrs=attrs,
                     error=error)


def _request(data, service, route, *, at, status=200, dur=1.0):
    t = data.trace_id()
    root = data.span(t, service, "server", f"POST {route}", at=at, dur=dur, error=status >= 500,
                     attrs={"http.request.method": "POST", "http.route": route, "http.response.status_code": status})
    return t, root


def _found(data, store, window):
    data.write()
    return {(f.rule, f.subject): f for f in rule_findings(store.cursor(), window, None, *RULES)}


def test_publishing_before_the_commit_ends_is_flagged_and_after_it_is_not(data, store, window):
    # healthy: write, commit, then publish
    t, root = _request(data, "payments-api", "/refunds", at=1)
    _db(data, t, "payments-api", "INSERT INTO refunds VALUES ($1)", at=1.1, parent=root)
    _db(data, t, "payments-api", "COMMIT", at=1.2, parent=root)
    data.produce(t, "payments-api", "shop.refunds", at=1.3, parent=root)
    # publish while the write's transaction is still open (old semconv: db.statement)
    t2, root2 = _request(data, "loyalty-api", "/redemptions", at=2)
    _db(data, t2, "loyalty-api", "UPDATE members SET points = points - $1", at=2.1, dur=0.05, parent=root2, old=True)
    data.produce(t2, "loyalty-api", "shop.points", at=2.12, parent=root2)
    _db(data, t2, "loyalty-api", "COMMIT", at=2.2, parent=root2, old=True)
    # another service's write in the same trace is not the publisher's commit
    t3, root3 = _request(data, "orders-api", "/orders", at=3)
    data.produce(t3, "orders-api", "shop.orders", at=3.1, parent=root3)
    server = data.call(t3, "orders-api", "audit-api", "/audit", at=3.2, parent=root3)
    _db(data, t3, "audit-api", "INSERT INTO audit VALUES ($1)", at=3.21, parent=server)

    found = _found(data, store, window)
    assert set(found) == {("PUBLISH_BEFORE_COMMIT", "loyalty-api -> shop.points")}
    f = found[("PUBLISH_BEFORE_COMMIT", "loyalty-api -> shop.points")]
    assert (f.count, f.severity, f.evidence["trace_ids"]) == (1, "warning", [t2])
    assert f.evidence["commit_spans"] == ["COMMIT"] and f.evidence["requests"] == ["loyalty-api POST /redemptions"]
    assert 80 <= f.evidence["max_before_commit_ms"] <= 90  # published at 2.12 s, the commit ended at 2.21 s


def test_a_publication_followed_by_a_rollback_or_a_failed_request_is_a_phantom_event(data, store, window):
    # rolled back after publishing
    t1, r1 = _request(data, "loyalty-api", "/redemptions", at=1, status=409)
    data.produce(t1, "loyalty-api", "shop.points", at=1.1, parent=r1)
    _db(data, t1, "loyalty-api", "UPDATE members SET points = points - $1", at=1.2, parent=r1, error=True)
    _db(data, t1, "loyalty-api", "ROLLBACK", at=1.3, parent=r1)
    # the request failed (500) after publishing, without a commit first
    t2, r2 = _request(data, "orders-api", "/orders", at=2, status=500)
    data.produce(t2, "orders-api", "shop.orders", at=2.1, parent=r2)
    # healthy: committed, published, and the request then failed: the event is true
    t3, r3 = _request(data, "payments-api", "/refunds", at=3, status=500)
    _db(data, t3, "payments-api", "INSERT INTO refunds VALUES ($1)", at=3.1, parent=r3)
    _db(data, t3, "payments-api", "COMMIT", at=3.2, parent=r3)
    data.produce(t3, "payments-api", "shop.refunds", at=3.3, parent=r3)
    # healthy: a failed transaction that published nothing
    t4, r4 = _request(data, "payments-api", "/refunds", at=4, status=500)
    _db(data, t4, "payments-api", "INSERT INTO refunds VALUES ($1)", at=4.1, parent=r4, error=True)
    _db(data, t4, "payments-api", "ROLLBACK", at=4.2, parent=r4)

    found = _found(data, store, window)
    assert set(found) == {("PHANTOM_EVENT", "loyalty-api -> shop.points"), ("PHANTOM_EVENT", "orders-api -> shop.orders"),
                          ("PUBLISH_BEFORE_COMMIT", "loyalty-api -> shop.points")}
    loyalty = found[("PHANTOM_EVENT", "loyalty-api -> shop.points")]
    assert (loyalty.severity, loyalty.count, loyalty.evidence["trace_ids"]) == ("error", 1, [t1])
    assert loyalty.evidence["failures"] == {"UPDATE": 1}  # the first failure after the publication
    assert found[("PHANTOM_EVENT", "orders-api -> shop.orders")].evidence["failures"] == {"POST /orders": 1}
