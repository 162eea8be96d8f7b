"""Kafka Streams' internal topics (changelogs, repartition topics) are the library's design, not the
system's: the event-design audit and the topology diff leave them out, and say so."""

from __future__ import annotations

import struct

from collectors.topology import load_into_store
from dashboard.analyses import event_design as ed
from dashboard.analyses import streams_internal
from dashboard.analyses import topology_diff as td
from dashboard.analyses.declared import declared_topology
from tests.support.rules import rule_findings

ED_RULES = ("EVENT_AS_COMMAND", "ENVELOPE_MISSING", "MISSING_TRACE_CONTEXT", "NULL_OR_UNSTABLE_KEY")
APP = "fulfilment-app"
CHANGELOG = f"{APP}-orders-by-region-changelog"
REPARTITION = f"{APP}-orders-by-region-repartition"
UNNAMED = "billing-KSTREAM-AGGREGATE-STATE-STORE-0000000010-changelog"  # an app whose group is not polled


def _streams_app(data) -> None:
    """What a Kafka Streams count by region writes: the input copied, re-keyed, to its repartition
    topic (no traceparent: the producer had none either), each region's count as an 8-byte long to
    its changelog, and the group committing on both its input and its repartition topic."""
    for i in range(4):
        order = {"id": f"o-{i}", "type": "OrderPlaced", "time": "2026-03-02T12:00:00Z", "version": 2}
        data.record("shop.orders", 0, i, at=i, key=f"o-{i}", value=order)
        data.record(REPARTITION, 0, i, at=i, key="eu", value=order)
        data.record(CHANGELOG, 0, i, at=i, key="eu", value=struct.pack(">q", i + 1))
        data.record(UNNAMED, 0, i, at=i, key=None, value=struct.pack(">q", i + 1))
    data.record("orders-changelog", 0, 0, at=1, key="o-1", value={"status": "paid"})  # a user's own topic
    data.poll(APP, "shop.orders", 0, 4, at=5)
    data.poll(APP, REPARTITION, 0, 4, at=5)
    data.poll("orders", "orders-changelog", 0, 1, at=5)  # a group named like the topic: no store name between
    data.write()


def test_a_streams_apps_topics_are_known_by_its_group_or_their_generated_names(data, store, window):
    _streams_app(data)
    topics = [CHANGELOG, REPARTITION, UNNAMED, "orders-changelog", "shop.orders", f"{APP}2-x-changelog"]
    assert streams_internal.apps(store.cursor(), topics, window) == {CHANGELOG: APP, REPARTITION: APP, UNNAMED: ""}


def test_the_audit_leaves_them_out_and_judges_everything_else_as_before(data, store, window):
    _streams_app(data)
    found = {(f.rule, f.subject) for f in rule_findings(store.cursor(), window, None, *ED_RULES)}
    judged = {subject for _, subject in found}
    assert not judged & {CHANGELOG, REPARTITION, UNNAMED}, found
    assert ("MISSING_TRACE_CONTEXT", "shop.orders") in found  # the app's input is judged as before
    assert ("ENVELOPE_MISSING", "orders-changelog") in found  # a topic merely named so, too
    every = ed.event_types(store.cursor(), window, streams=True)
    assert dict(zip(every["topic"], every["streams_app"], strict=True)) == {
        "orders-changelog": None, "shop.orders": None, CHANGELOG: APP, REPARTITION: APP, UNNAMED: ""}
    assert set(ed.event_types(store.cursor(), window)["topic"]) == {"orders-changelog", "shop.orders"}


def test_a_long_counts_eight_bytes_are_a_number_not_a_schema_registry_value(data, store, window):
    """A LongSerde value under 2^24 starts with five zero bytes: magic byte 0 and schema id 0, an
    id no registry gives. It was counted as a registry value kept undecoded and never judged."""
    data.record("region-counts", 0, 0, at=1, key="eu", value=struct.pack(">q", 7))  # valid UTF-8: a text excerpt
    data.record("region-counts", 0, 1, at=2, key="us", value=struct.pack(">q", 0xFF_FEFF))  # not UTF-8: base64
    data.record("shop.refunds", 0, 0, at=3, key="r-1", value=b"\x00\x00\x00\x00\x01\xff\xfe")  # schema id 1
    data.write()
    types = ed.event_types(store.cursor(), window).set_index("topic")
    assert int(types.loc["region-counts", "undecoded"]) == 0 and int(types.loc["region-counts", "incomplete"]) == 2
    assert int(types.loc["shop.refunds", "undecoded"]) == 1


def test_undeclared_streams_topics_are_no_undeclared_edges(data, store, window, tmp_path):
    import yaml

    _streams_app(data)
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump({"services": {"fulfilment": {}}, "topics": {"shop.orders": {}},
                                    "groups": {APP: {"service": "fulfilment", "topics": ["shop.orders"]}}}))
    load_into_store(store, path)
    topo = declared_topology(store.cursor())
    status = {td.edge_subject(r): r.status for r in td.diff(store.cursor(), window, topo).itertuples()}
    # the app's own repartition topic is no undeclared edge; a user's topic merely named so is
    assert status == {f"shop.orders -> {APP}": "declared", "orders-changelog -> orders": "undeclared"}
    assert [f.subject for f in rule_findings(store.cursor(), window, topo, "UNDECLARED_EDGE")] == [
        "orders-changelog -> orders"]
