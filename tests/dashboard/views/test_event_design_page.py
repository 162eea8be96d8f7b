"""The Event design page over a store whose tap read a compacted topic's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apptest import page_over
from tests.support.builders import Data
from tests.support.markdown import as_read


@pytest.mark.file_only  # a store written, closed, then browsed
def test_a_compacted_topic_reads_as_state_and_says_what_is_asked_of_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def fill(data: Data) -> None:
        for i in range(4):
            data.record("customers", 0, i, at=i, key=f"c-{i}", value={"customer": f"c-{i}", "version": i})
            data.record("customer-events", 0, i, at=i, key=f"c-{i}", value={"customer": f"c-{i}", "version": i})
        data.settings("customers", "compact")
        data.settings("customer-events", "delete")

    at = page_over(tmp_path, monkeypatch, fill, "views/event_design.py", range="all", topic="customers")
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "naming" in d.value.columns)
    reads = dict(zip(table["topic"], table["naming"], strict=True))
    assert reads["customers"] == "state (compacted)" and reads["customer-events"] != "state (compacted)", reads
    gaps = dict(zip(table["topic"], table["incomplete"], strict=True))
    assert gaps == {"customers": 0, "customer-events": 4}, gaps
    said = [as_read(m.value) for m in at.markdown]
    assert any(m.startswith("`customers` is compacted") and "Only a version is asked" in m for m in said), said


def test_a_store_from_before_topic_settings_judges_every_topic_as_events(data, store, window) -> None:
    """A file written before migration 019, read as it is (a reader never upgrades it)."""
    from dashboard.analyses import event_design

    data.record("customers", 0, 0, at=1, key="c-1", value={"customer": "c-1", "version": 1})
    data.write()
    store.cursor().execute("DROP TABLE topic_configs")
    types = event_design.event_types(store.cursor(), window)
    assert types[["topic", "compacted", "missing_id", "missing_time"]].values.tolist() == [["customers", False, 1, 1]]


@pytest.mark.file_only  # a store written, closed, then browsed
def test_kafka_streams_internal_topics_are_said_to_be_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fill(data: Data) -> None:
        for i in range(3):
            data.record("shop.orders", 0, i, at=i, key=f"o-{i}", value={"id": f"o-{i}", "type": "OrderPlaced"})
            data.record("fulfilment-app-counts-changelog", 0, i, at=i, key="eu", value=bytes(7) + bytes([i]))
        data.poll("fulfilment-app", "shop.orders", 0, 3, at=3)

    at = page_over(tmp_path, monkeypatch, fill, "views/event_design.py", range="all")
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "naming" in d.value.columns)
    assert list(table["topic"]) == ["shop.orders"]
    said = [as_read(c.value) for c in at.caption]
    assert any("Left out of the audit, as Kafka Streams' internal topics" in c
               and "`fulfilment-app-counts-changelog` (fulfilment-app, 3 records)" in c for c in said), said
