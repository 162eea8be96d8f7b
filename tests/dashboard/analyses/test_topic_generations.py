"""A topic deleted and created again restarts its offsets: offset 0 of the new topic is another
record than offset 0 of the old one, and processing each once is no redelivery and no
idempotency violation. The tap's generation row (collectors/kafka/generations.py) tells them apart."""

from __future__ import annotations

import pyarrow as pa

from collectors.kafka.generations import Generations
from collectors.model import RECORD_SCHEMA, to_table
from dashboard.analyses import idempotency as idem
from dashboard.analyses import records as recs
from dashboard.analyses import redeliveries as rd
from tests.support.rules import rule_findings

TOPIC = "billing.charges"
GROUP = "ledger-writer"


def _charge(data, offset: int, at: float, instance: str) -> None:
    """ledger-writer processes the record at ``offset`` and writes a ledger entry (a side effect)."""
    t = data.trace_id()
    p = data.process(t, "ledger-service", GROUP, TOPIC, 0, offset, at=at, instance=instance)
    data.span(t, "ledger-service", "client", "INSERT ledger_entries", at=at + 0.1, parent=p,
              attrs={"db.system": "postgresql", "db.operation.name": "INSERT"})


def _keys(df) -> list[tuple[str, int, int, int]]:
    return sorted((r.topic, r.partition, r.offset, r.processings) for r in df.itertuples(index=False))


def created_again(data) -> pa.Table:
    """The old topic: offsets 0-2, offset 1 really processed twice (ledger-a crashed before
    committing); deleted at 100 s and created again: offsets 0-2 are new charges, offset 2 processed
    twice. Written; returns the new topic's records, as the tap's batch held them."""
    for offset in range(3):
        data.record(TOPIC, 0, offset, at=10 + offset, value=None)
        _charge(data, offset, 11 + offset, "ledger-a")
    _charge(data, 1, 40, "ledger-b")
    for offset in range(3):
        data.record(TOPIC, 0, offset, at=200 + offset, value=None)
        _charge(data, offset, 201 + offset, "ledger-b")
    _charge(data, 2, 260, "ledger-c")
    new_records = to_table(data.records[3:], RECORD_SCHEMA)
    data.write()
    return new_records


def generation_rows(data, new_records: pa.Table) -> pa.Table:
    """What the tap writes: it found the topic's id changed (its old id last seen at 20 s)."""
    generations = Generations("test")
    generations.found(TOPIC, "new-topic-id", data.at(20), data.at(150))
    return generations.rows(new_records)


def test_offsets_of_a_topic_created_again_are_other_records(data, store, window):
    new_records = created_again(data)

    # without the generation row the store cannot tell: every offset looks processed twice or more
    assert _keys(rd.redeliveries(store.cursor(), window)) == [(TOPIC, 0, 0, 2), (TOPIC, 0, 1, 3), (TOPIC, 0, 2, 3)]

    # the tap writes the row with the new topic's first records
    rows = generation_rows(data, new_records)
    assert rows.to_pylist() == [{"cluster": "test", "topic": TOPIC, "topic_id": "new-topic-id",
                                 "since": data.at(200), "found_at": data.at(150)}]
    store.append({"topic_generations": rows})

    cur = store.cursor()
    redelivered = rd.redeliveries(cur, window)
    assert _keys(redelivered) == [(TOPIC, 0, 1, 2), (TOPIC, 0, 2, 2)]  # one in each generation
    assert redelivered["first_processed"].dt.second.tolist() == [12, 23]  # 12:00:12 old, 12:03:23 new
    assert int(rd.redelivery_rate(cur, window)["redeliveries"].sum()) == 2
    # the drill-down shows the processings of the row's own record
    assert redelivered["generation"].isna().tolist() == [True, False]
    new = redelivered["generation"].iloc[1].to_pydatetime()
    assert new == data.at(200)
    of = {gen: rd.processings_of(cur, window, group=GROUP, topic=TOPIC, partition=0, offset=2, generation=gen)
          for gen in (None, new)}
    assert of[None]["service_instance"].tolist() == ["ledger-a"]
    assert of[new]["service_instance"].tolist() == ["ledger-b", "ledger-c"]

    dups = idem.duplicates(cur, window)
    new_2 = f"{TOPIC}/0/2 (topic created again 2026-03-02 12:03:20)"
    assert sorted((r.message, r.verdict, r.processings) for r in dups.itertuples(index=False)) == [
        (f"{TOPIC}/0/1", "violation", 2), (new_2, "violation", 2)]
    # each message's processings are its own generation's
    instances = {r.message: [p["instance"] for p in r.evidence] for r in dups.itertuples(index=False)}
    assert instances == {f"{TOPIC}/0/1": ["ledger-a", "ledger-b"], new_2: ["ledger-b", "ledger-c"]}

    # the record page: a record of each topic at the position, newest first, each with its own processings
    newest, older = (recs.record(cur, TOPIC, 0, 1, nth=n) for n in (0, 1))
    assert (newest["generations"], newest["tapped_at"], older["tapped_at"]) == (2, data.at(201), data.at(11))
    assert recs.tapped_times(cur, newest) == [data.at(201), data.at(11)]
    assert recs.processings(cur, newest)["instance"].tolist() == ["ledger-b"]
    assert recs.processings(cur, older)["instance"].tolist() == ["ledger-a", "ledger-b"]
    assert recs.generation(cur, {**newest, "tapped_at": None}) == (None, None)  # a row no tap wrote

    found = {f.rule: f for f in rule_findings(cur, window, None, "REDELIVERY", "IDEMPOTENCY_VIOLATION")}
    assert found["REDELIVERY"].count == 2 and found["IDEMPOTENCY_VIOLATION"].count == 2


def twice_in_each(data, store) -> None:
    """Offset 0 of the old topic (a charge of acc-old) and of the new one (acc-new, created again at
    150 s), each processed by ledger-a and 30 s later by ledger-b; written with the generation row."""
    for at, key in ((10, "acc-old"), (200, "acc-new")):
        data.record(TOPIC, 0, 0, at=at, key=key, value={"accountId": key})
        _charge(data, 0, at + 1, "ledger-a")
        _charge(data, 0, at + 30, "ledger-b")
    new_records = to_table(data.records[1:], RECORD_SCHEMA)
    data.write()
    store.append({"topic_generations": generation_rows(data, new_records)})


def test_one_offset_redelivered_in_each_generation_is_two_records_about_their_own_customers(data, store, window):
    """Offset 0 of the old topic is a charge of acc-old, offset 0 of the new one a charge of acc-new;
    each was processed twice. Two messages, each finding's evidence about its own customer, and the
    record of each processing's generation."""
    twice_in_each(data, store)
    cur = store.cursor()

    dups = idem.duplicates(cur, window)
    assert sorted(dups["message"]) == [f"{TOPIC}/0/0", f"{TOPIC}/0/0 (topic created again 2026-03-02 12:03:20)"]
    assert dups["processings"].tolist() == [2, 2]

    found = {f.rule: f for f in rule_findings(cur, window, None, "REDELIVERY", "IDEMPOTENCY_VIOLATION")}
    assert found["IDEMPOTENCY_VIOLATION"].count == 2 and found["REDELIVERY"].count == 2
    about = {m["message"]: m["about"]["key"] for m in found["IDEMPOTENCY_VIOLATION"].evidence["messages"]}
    assert about == {f"{TOPIC}/0/0": "acc-old", f"{TOPIC}/0/0 (topic created again 2026-03-02 12:03:20)": "acc-new"}
    records = found["REDELIVERY"].evidence["records"]
    assert [(r["about"]["key"], r.get("topic_created_again")) for r in records] == [
        ("acc-old", None), ("acc-new", "2026-03-02T12:03:20")]

    # the record a processing at each time read: its generation's
    assert [recs.record(cur, TOPIC, 0, 0, at=data.at(t))["key"] for t in (11, 231, 201)] == ["acc-old", "acc-new",
                                                                                           "acc-new"]
    assert recs.record(cur, TOPIC, 0, 0)["key"] == "acc-new"  # no time: the newest


def replayed(data, store) -> None:
    """Charges c-1, c-2, c-3 at offsets 0-2 of the old topic; in the topic created again (150 s),
    c-1 replayed at its old offset, c-9 and then c-2 replayed at another offset."""
    for offset, event in enumerate(("c-1", "c-2", "c-3")):
        data.record(TOPIC, 0, offset, at=10 + offset, key=event, value={"eventId": event, "type": "ChargeMade"})
    for offset, event in ((0, "c-1"), (1, "c-9"), (2, "c-2")):
        data.record(TOPIC, 0, offset, at=200 + offset, key=event, value={"eventId": event, "type": "ChargeMade"})
    new_records = to_table(data.records[3:], RECORD_SCHEMA)
    data.write()
    store.append({"topic_generations": generation_rows(data, new_records)})


def test_an_event_replayed_into_the_topic_created_again_is_published_twice_wherever_it_lands(data, store, window):
    """Both replayed events are published twice, once in each topic, whether or not they land at
    their old offset; the evidence and the Records page name each copy's own record."""
    replayed(data, store)
    cur = store.cursor()

    dups = rd.duplicate_publications(cur, window)
    assert dict(zip(dups["event_id"], dups["copies"], strict=True)) == {"c-1": 2, "c-2": 2}
    again = "2026-03-02T12:03:20"
    found = {f.rule: f for f in rule_findings(cur, window, None, "DUPLICATE_PUBLISH")}
    where = {e["event_id"]: [(loc["offset"], loc.get("topic_created_again")) for loc in e["locations"]]
             for e in found["DUPLICATE_PUBLISH"].evidence["event_ids"]}
    assert where == {"c-1": [(0, None), (0, again)], "c-2": [(1, None), (2, again)]}
    assert found["DUPLICATE_PUBLISH"].count == 4
    assert found["DUPLICATE_PUBLISH"].summary.endswith(
        "(4 records, 2 of them copies; 2 of them both before and after the topic was deleted and created again)")

    # the Records page of each copy lists the other, the one at its own offset too
    for at in (10, 200):
        rec = recs.record(cur, TOPIC, 0, 0, at=data.at(at + 1))
        other = recs.duplicate_publications(cur, rec)
        assert other["offset"].tolist() == [0] and other["timestamp"].tolist() != [rec["timestamp"]]


def test_a_batch_without_the_topic_starts_no_generation_and_a_lying_clock_is_bounded(data):
    generations = Generations("test")
    generations.found(TOPIC, "id-2", data.at(50), data.at(60))
    data.record("other", 0, 0, at=70, value=None)
    assert generations.rows(to_table(data.records, RECORD_SCHEMA)) is None
    assert generations.pending() == {TOPIC}
    # records of the new topic read at the old position before the re-creation was found (handed
    # over before the rewind, so stamped before it): further into the new topic, they do not begin it
    data.record(TOPIC, 0, 20, at=58, value=None)
    assert generations.rows(to_table(data.records, RECORD_SCHEMA)) is None
    assert generations.pending() == {TOPIC}
    # read after the rewind, the new topic's first record claims a time before the old topic was last seen alive
    data.record(TOPIC, 0, 0, at=70, value=None)
    data.records[-1]["timestamp"] = data.records[-1]["tapped_at"] - 65_000_000
    rows = generations.rows(to_table(data.records, RECORD_SCHEMA))
    assert rows.column("since").to_pylist() == [data.at(50)]
    generations.written(rows)
    assert generations.pending() == set()


def test_a_store_from_before_generations_reads_each_topic_as_one(data, store, window):
    """A file written before migration 018, read as it is (a reader never upgrades it)."""
    for at, instance in ((10, "ledger-a"), (40, "ledger-b")):
        _charge(data, 7, at, instance)
    data.write()
    store.cursor().execute("DROP TABLE topic_generations")
    assert _keys(rd.redeliveries(store.cursor(), window)) == [(TOPIC, 0, 7, 2)]
    assert idem.duplicates(store.cursor(), window)["verdict"].tolist() == ["violation"]
