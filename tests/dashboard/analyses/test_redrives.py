"""What became of replayed dead letters: processed, failed again, not reached (docs/architecture.md#dead-letter-redrive)."""

from __future__ import annotations

from collectors.kafka.redrive import PROVENANCE, REPLAY_COUNT
from collectors.kafka.redrive_ledger import Ledger, RecordId
from dashboard.analyses.redrives import redrives
from tests.support.rules import rule_findings

DLT = "shop.orders.DLT"


def _dead_letter(data, offset: int, *, at: float, origin_partition: int, origin_offset: int,
                 extra: list | None = None) -> None:
    data.record(DLT, 0, offset, at=at, headers=[
        ("kafka_dlt-original-topic", "shop.orders"),
        ("kafka_dlt-original-partition", origin_partition.to_bytes(4, "big")),
        ("kafka_dlt-original-offset", origin_offset.to_bytes(8, "big")),
        ("kafka_dlt-original-consumer-group", "billing"), *(extra or [])])


def _replayed(store, offset: int, landed_at: int, *, count: int = 1) -> None:
    ledger = Ledger(store, "test")
    r = RecordId(DLT, 0, offset)
    ledger.record_intents([(r, "shop.orders", "billing", count, {1: 0})], "run")
    ledger.mark_done([(r, 1, landed_at)])


def test_each_replay_is_processed_failed_again_or_not_reached(data, store, window) -> None:
    for n in range(5):
        _dead_letter(data, n, at=n, origin_partition=1, origin_offset=n)
    # replay of DLT/0/0 at orders/1/10: a processing span without error
    t = data.trace_id()
    data.process(t, "billing-service", "billing", "shop.orders", 1, 10, at=60)
    # replay of DLT/0/1 at orders/1/11: dead-lettered again, the origin headers name the replay
    _dead_letter(data, 5, at=61, origin_partition=1, origin_offset=11)
    # replay of DLT/0/2 at orders/1/12: dead-lettered again by a recoverer that kept only the headers
    data.record(DLT, 0, 6, at=62, headers=[(PROVENANCE, f"{DLT}/0/2"), (REPLAY_COUNT, "1")])
    # replay of DLT/0/3 at orders/1/13: no spans, but the group committed past it
    data.poll("billing", "shop.orders", 1, 14, at=63, high_watermark=16)
    # replay of DLT/0/4 at orders/1/15: the group has not got there (committed 14 ≤ 15)
    data.write()
    for n in range(5):
        _replayed(store, n, 10 + n)

    df = redrives(store.cursor(), window).set_index("dead_letter")
    assert df["outcome"].to_dict() == {
        f"{DLT}/0/0": "processed", f"{DLT}/0/1": "failed again", f"{DLT}/0/2": "failed again",
        f"{DLT}/0/3": "processed", f"{DLT}/0/4": "not reached"}
    assert df.loc[f"{DLT}/0/1", "new_dead_letter"] == f"{DLT}/0/5"
    assert df.loc[f"{DLT}/0/0", "replay"] == "shop.orders/1/10"

    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "REDRIVE_OUTCOME")}
    assert {s: (f.severity, f.count) for s, f in found.items()} == {
        f"{DLT} (failed again)": ("error", 2), f"{DLT} (processed)": ("info", 2),
        f"{DLT} (not reached)": ("info", 1)}
    failed = found[f"{DLT} (failed again)"]
    assert f"{DLT}/0/1 → shop.orders/1/11" in failed.summary
    assert [r["new_dead_letter"] for r in failed.evidence["records"]] == [f"{DLT}/0/5", f"{DLT}/0/6"]


def test_quarantined_and_in_doubt_come_from_the_ledger(data, store, window) -> None:
    _dead_letter(data, 0, at=1, origin_partition=1, origin_offset=3)
    _dead_letter(data, 1, at=2, origin_partition=1, origin_offset=4)
    data.write()
    ledger = Ledger(store, "test")
    ledger.quarantine(RecordId(DLT, 0, 0), "shop.orders", "billing", 3, "dead-lettered again after 3 replays", "r")
    ledger.record_intents([(RecordId(DLT, 0, 1), "shop.orders", "billing", 1, {1: 5})], "killed")

    df = redrives(store.cursor(), window).set_index("dead_letter")
    assert df["outcome"].to_dict() == {f"{DLT}/0/0": "quarantined", f"{DLT}/0/1": "in doubt"}
    found = {f.subject: f.severity for f in rule_findings(store.cursor(), window, None, "REDRIVE_OUTCOME")}
    assert found == {f"{DLT} (quarantined)": "warning", f"{DLT} (in doubt)": "warning"}


def test_no_redrives_no_findings(data, store, window) -> None:
    _dead_letter(data, 0, at=1, origin_partition=1, origin_offset=3)
    data.write()
    assert redrives(store.cursor(), window).empty
    assert rule_findings(store.cursor(), window, None, "REDRIVE_OUTCOME") == []


def test_a_replay_is_not_a_duplicate_publication(data, store, window) -> None:
    """The replay repeats the event on purpose: DUPLICATE_PUBLISH must not count it, a real copy it must."""
    from dashboard.analyses.redeliveries import duplicate_publications

    event = {"eventId": "e-1", "eventType": "OrderPlaced"}
    data.record("shop.orders", 1, 3, at=0, value=event)
    data.record("shop.orders", 1, 10, at=60, value=event, headers=[(PROVENANCE, f"{DLT}/0/0"), (REPLAY_COUNT, "1")])
    data.write()
    assert duplicate_publications(store.cursor(), window).empty
    data.record("shop.orders", 1, 11, at=61, value=event)  # a producer retry without idempotence
    data.write()
    assert duplicate_publications(store.cursor(), window)["copies"].tolist() == [2]
