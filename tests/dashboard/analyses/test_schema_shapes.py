"""UNVERSIONED_SCHEMA_CHANGE: a field removed or retyped under one version; an added field is fine."""

from __future__ import annotations

from tests.support.rules import rule_findings


def _ce(data, topic, offset, *, at, etype, version, value):
    data.record(topic, 0, offset, at=at, key="k", value=value, headers=[
        ("ce_specversion", "1.0"), ("ce_id", f"{topic}-{offset}"), ("ce_type", etype), ("ce_source", "/w"),
        ("ce_dataversion", version)])


def _found(data, store, window):
    data.write()
    return rule_findings(store.cursor(), window, None, "UNVERSIONED_SCHEMA_CHANGE")


def test_a_removed_field_and_a_changed_type_under_one_version_are_flagged(data, store, window):
    for i in range(3):  # weight in grams, with dimensions
        _ce(data, "shop.parcels", i, at=i, etype="ParcelPacked", version="1",
            value={"parcelId": f"p{i}", "weight": 1200 + i, "dimensions": {"l": 1, "w": 2}, "note": None})
    for i in range(3, 5):  # weight as text, no dimensions, same version
        _ce(data, "shop.parcels", i, at=i, etype="ParcelPacked", version="1",
            value={"parcelId": f"p{i}", "weight": "1250 g", "note": "fragile"})
    # healthy: a field added later under the same version, and a new version with a new shape
    for i in range(5, 9):
        extra = {"carrierRef": "cr-1"} if i >= 7 else {}
        _ce(data, "shop.parcels", i, at=i, etype="ParcelDispatched", version="1",
            value={"parcelId": f"p{i}", "carrier": "dhl", **extra})
    _ce(data, "shop.parcels", 9, at=9, etype="ParcelPacked", version="2", value={"parcelId": "p9", "weight": "1 kg"})
    _ce(data, "shop.orders", 0, at=10, etype="OrderCreated", version="1", value={"orderId": "o-1", "email": "a@b"})
    _ce(data, "shop.orders", 1, at=11, etype="OrderCreated", version="1", value={"orderId": "o-2", "email": None})

    [f] = _found(data, store, window)
    assert (f.subject, f.subject_kind, f.severity, f.count) == ("shop.parcels", "topic", "warning", 2)
    [c] = f.evidence["changes"]
    assert (c["event_type"], c["version"]) == ("ParcelPacked", "1")
    assert c["removed"] == ["dimensions", "dimensions.l", "dimensions.w"]
    assert c["retyped"] == {"weight": ["number", "string"]}  # a null note later given a value is no change
    assert c["before"]["first_record"] == "0/0" and c["after"]["first_record"] == "0/3"
    assert c["before"]["fields"]["weight"] == "number" and c["after"]["fields"]["weight"] == "string"


def test_values_without_a_whole_json_object_have_no_shape(data, store, window):
    _ce(data, "shop.blobs", 0, at=1, etype="BlobStored", version="1", value={"size": 1})
    _ce(data, "shop.blobs", 1, at=2, etype="BlobStored", version="1", value=b"\x00\x01binary")
    # cut by the excerpt bound: read as a shape, "size" would look removed
    _ce(data, "shop.blobs", 2, at=3, etype="BlobStored", version="1", value={"x": "y" * 2000})
    assert _found(data, store, window) == []
