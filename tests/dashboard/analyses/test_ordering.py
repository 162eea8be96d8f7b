"""OUT_OF_ORDER_PROCESSING: one entity's events processed in another order than they were produced in."""

from __future__ import annotations

from tests.support.rules import rule_findings


def _event(data, topic, partition, offset, *, at, key, subject, etype, processed, group="tracking",
           failed_first=False):
    headers = [("ce_specversion", "1.0"), ("ce_id", f"{topic}-{partition}-{offset}"), ("ce_type", etype),
               ("ce_source", "/warehouse"), ("ce_subject", subject)]
    data.record(topic, partition, offset, at=at, key=key, headers=headers, value={"parcelId": subject})
    for i, t in enumerate(processed):
        trace = data.trace_id()
        data.process(trace, "tracking-service", group, topic, partition, offset, at=t,
                     error=failed_first and i < len(processed) - 1)


def _found(data, store, window):
    data.write()
    return rule_findings(store.cursor(), window, None, "OUT_OF_ORDER_PROCESSING")


def test_a_changed_key_and_a_retry_put_events_out_of_order_and_a_stable_key_does_not(data, store, window):
    # the key changed between events: the later one, on another partition, is handled first
    _event(data, "shop.parcels", 0, 0, at=1.0, key="parcel-1", subject="parcel-1", etype="ParcelPacked",
           processed=[2.0])
    _event(data, "shop.parcels", 1, 0, at=1.1, key="TRK1", subject="parcel-1", etype="ParcelDispatched",
           processed=[1.2])
    # a stable key: same partition, in order, even when processed late
    _event(data, "shop.parcels", 2, 0, at=3.0, key="parcel-2", subject="parcel-2", etype="ParcelPacked",
           processed=[5.0])
    _event(data, "shop.parcels", 2, 1, at=3.1, key="parcel-2", subject="parcel-2", etype="ParcelDispatched",
           processed=[5.5])
    # a retry: the first event failed, the next one went ahead (a non-blocking retry), then the first succeeded
    _event(data, "shop.parcels", 0, 1, at=6.0, key="parcel-3", subject="parcel-3", etype="ParcelPacked",
           processed=[6.1, 7.0], failed_first=True)
    _event(data, "shop.parcels", 0, 2, at=6.05, key="parcel-3", subject="parcel-3", etype="ParcelDispatched",
           processed=[6.5])
    # another group reading the same events in order is not affected
    _event(data, "shop.parcels", 0, 3, at=8.0, key="parcel-4", subject="parcel-4", etype="ParcelPacked",
           processed=[8.1], group="billing")
    _event(data, "shop.parcels", 1, 1, at=8.1, key="TRK4", subject="parcel-4", etype="ParcelDispatched",
           processed=[8.2], group="billing")

    [f] = _found(data, store, window)
    assert (f.subject, f.subject_kind, f.severity, f.count) == ("tracking", "group", "warning", 2)
    assert f.evidence["causes"] == {"key changed": 1, "retry": 1}
    first = f.evidence["examples"][0]
    assert first["entity"] == "parcel-1" and first["cause"] == "key changed"
    assert first["produced"] == ["ParcelPacked 0/0 key parcel-1", "ParcelDispatched 1/0 key TRK1"]
    assert [p.split(" at ")[0] for p in first["processed"]] == ["ParcelDispatched", "ParcelPacked"]


def test_without_a_subject_the_key_is_the_entity(data, store, window):
    data.record("shop.orders", 0, 0, at=1.0, key="o-1", value={"eventId": "a"})
    data.record("shop.orders", 0, 1, at=1.1, key="o-1", value={"eventId": "b"})
    t = data.trace_id()
    data.process(t, "billing", "billing", "shop.orders", 0, 1, at=1.2)
    data.process(t, "billing", "billing", "shop.orders", 0, 0, at=1.3)  # an offset reset or a bug: 1 before 0
    [f] = _found(data, store, window)
    assert (f.subject, f.count, f.evidence["causes"]) == ("billing", 1, {"unknown": 1})
