"""End to end on a real broker: the live shop → tap + lag poller (+ its spans imported) → the
analyses find the incidents the simulator reports, with its counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from collectors.importer import import_file
from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.kafka.tap import KafkaTap
from collectors.runtime import Runtime
from tests.collectors.kafka.conftest import wait_for

pytestmark = pytest.mark.kafka


def _caught_up(store, admin, ns: str) -> bool:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    md = admin.list_topics(timeout=10).topics
    tps = [TopicPartition(t, p) for t, tm in md.items() if t.startswith(ns) for p in tm.partitions]
    ends = {(tp.topic, tp.partition): f.result(10).offset
            for tp, f in admin.list_offsets({tp: OffsetSpec.latest() for tp in tps}).items()}
    have = store.positions("live")
    return all(have.get(k, 0) == end for k, end in ends.items())


def test_live_incidents_are_found_with_the_simulators_counts(store, bootstrap, admin, tmp_path) -> None:
    from collectors.derive import derive_all
    from dashboard.analyses import call_chains, dead_letters, idempotency, lag, redeliveries
    from dashboard.analyses.window import Window
    from sample_topology.live import run_live
    from sample_topology.live_otel import Telemetry

    ns = f"e2e{uuid.uuid4().hex[:6]}."
    settings = KafkaSettings(bootstrap=[bootstrap], cluster="live", include=(f"{ns}*",), poll_interval=1.0,
                             batch_seconds=0.5, topic_refresh=0.5, group_id=f"{ns}tap")
    started = datetime.now(UTC).replace(tzinfo=None)
    runtime = Runtime([KafkaTap(store, settings, from_beginning=True), LagPoller(store, settings)])
    runtime.start()
    try:
        report = run_live(bootstrap=bootstrap, telemetry=Telemetry.to_dir(tmp_path), duration=24, rate=4,
                          namespace=ns)
        wait_for(lambda: _caught_up(store, admin, ns), timeout=60, what="the tap to hold every record")
        polls = store.cursor().execute("SELECT count(DISTINCT polled_at) FROM group_offsets").fetchone()[0]
        wait_for(lambda: store.cursor().execute("SELECT count(DISTINCT polled_at) FROM group_offsets")
                 .fetchone()[0] >= polls + 2, what="two lag snapshots after the run")
    finally:
        runtime.stop()
    imported = import_file(store, tmp_path / "spans.otlp.jsonl")
    assert imported.rejected == 0 and imported.rows["spans"] > 0, imported.reasons
    derive_all(store)
    con = store.cursor()
    window = Window(started - timedelta(minutes=5), datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=5))

    # what the simulator injected, as the analyses see it
    redelivered = redeliveries.redeliveries(con, window)
    for group in ("email", "invoicing", "reporting"):
        expected = report.redelivered(ns + group)
        assert expected > 0, f"the run should have redelivered to {group}"
        assert (redelivered["group"] == ns + group).sum() == expected, group
    assert report.restarts[ns + "reporting"] == 3

    dlt = dead_letters.dead_letters(con, window)
    [d] = report.dead_letters
    assert list(zip(dlt["origin_topic"], dlt["origin_offset"], strict=True)) == [(d["origin_topic"], d["origin_offset"])]

    dups = redeliveries.duplicate_publications(con, window, topic=ns + "shop.orders")
    [e] = report.duplicate_events
    assert list(dups["event_id"]) == [e["event_id"]]

    slow = lag.offset_lag_latest(con, window, group=ns + "fulfillment")
    assert int(slow["offset_lag"].sum()) == report.final_lag[ns + "fulfillment"] > 0
    behind = lag.time_lag(con, window, group=ns + "fulfillment")
    last = behind.sort_values("at").groupby("partition").tail(1)
    assert (last["time_lag_s"] > 0).any()  # and the store holds the record it is stuck before
    assert "exact" in set(last["method"])

    idem = idempotency.summary(con, window)
    violations = dict(zip(idem["group"], idem["violations"], strict=True))
    assert violations.get(ns + "invoicing") == report.invoiced_twice() > 0
    assert violations.get(ns + "email", 0) == 0

    deep = call_chains.chains_over_limit(con, window, limit_depth=3)
    assert report.deep_checkouts > 0, "the run should have priced some checkouts in another currency"
    [chain] = deep.itertuples()
    assert (chain.entry_service, chain.entry_operation, int(chain.segments), int(chain.max_depth)) == (
        "web-checkout", "POST /checkout", report.deep_checkouts, 4)
    assert list(chain.deepest_path) == ["web-checkout", "orders-api", "pricing-api", "tax-api", "currency-rates"]

    # the shipping quote asked for by event: each request that read its reply waited for it
    from dashboard.findings import registry
    from sample_topology import quotes

    assert report.quotes_waited > 0, "the run should have answered some shipping quotes"
    [waits] = registry.rule("PASSIVE_AGGRESSIVE_EVENT").findings(con, window, None)
    assert (waits.subject, waits.count, waits.evidence["reply_topic"]) == (
        ns + quotes.REQUEST_TOPIC, report.quotes_waited, ns + quotes.REPLY_TOPIC)

    # commit, then publish: redemptions publish first (some then roll back), refunds commit first
    from sample_topology import transactions

    assert report.redemptions > 0 and report.redemptions_rolled_back > 0 and report.refunds > 0
    early = {f.subject: f.count for f in registry.rule("PUBLISH_BEFORE_COMMIT").findings(con, window, None)}
    assert early == {f"loyalty-api -> {ns}{transactions.POINTS_TOPIC}": report.redemptions}
    phantom = {f.subject: f.count for f in registry.rule("PHANTOM_EVENT").findings(con, window, None)}
    assert phantom == {f"loyalty-api -> {ns}{transactions.POINTS_TOPIC}": report.redemptions_rolled_back}

    # request-reply over topics: each address change that got its answer waited for it in its handler
    from sample_topology import address_checks

    assert report.address_checks_waited > 0, "the run should have answered some address checks"
    [rr] = registry.rule("REQUEST_REPLY_OVER_EVENTS").findings(con, window, None)
    assert (rr.subject, rr.count, rr.evidence["reply_topic"]) == (
        "accounts-api PUT /accounts/{id}/address", report.address_checks_waited, ns + address_checks.REPLY_TOPIC)
    assert "reply-to header" in rr.evidence["correlated_by"] and rr.evidence["added_latency_ms"]["p50"] > 0

    # parcels: events of one parcel handled out of order, and a shape changed under version 1
    from sample_topology import parcels

    assert report.parcels_out_of_order() > 0, "tracking should have handled some dispatches first"
    [ooo] = registry.rule("OUT_OF_ORDER_PROCESSING").findings(con, window, None)
    assert (ooo.subject, ooo.count, ooo.evidence["topic"]) == (
        ns + parcels.GROUP, report.parcels_out_of_order(), ns + parcels.TOPIC)
    assert set(ooo.evidence["causes"]) == {"key changed"}
    [shape] = registry.rule("UNVERSIONED_SCHEMA_CHANGE").findings(con, window, None)
    [change] = shape.evidence["changes"]
    assert (shape.subject, shape.count, change["event_type"]) == (
        ns + parcels.TOPIC, report.parcels_reshaped, "ParcelPacked")
    assert change["retyped"] == {"weight": ["number", "string"]} and "dimensions" in change["removed"]
