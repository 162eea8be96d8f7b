"""A finding's evidence as the Findings page draws it: times in UTC a person reads, numbers with
their unit, trace ids as links to the Trace page."""

from __future__ import annotations

from datetime import datetime

from dashboard.findings import registry
from dashboard.findings.model import plural
from dashboard.ui import evidence

# CONSUMER_LAG's evidence as the rule builds it (dashboard/findings/rules/consumer_lag.py)
LAG = {"cluster": "sample", "status": "ERR", "worst_partition_status": "STALL",
       "partitions": {"shop.orders/0": "WARN", "shop.orders/2": "STALL"},
       "first_at": {"STALL": "2026-12-04T21:31:30", "WARN": "2026-12-04T21:17:30"},
       "final_lag": {"shop.orders/0": 219, "shop.orders/2": 1},
       "limits": {"max_lag_messages": 100, "lag_seen": 250, "max_time_lag_s": None, "time_lag_seen_s": 3.5,
                  "polls_over": 3}}


def _shown(ev, **kw) -> dict[str, dict[str, str]]:
    return {title: dict(table.itertuples(index=False, name=None)) for title, table in evidence.tables(ev, **kw)
            if len(table.columns) == 2}


def test_consumer_lag_final_lag_reads_in_messages_and_first_at_in_utc() -> None:
    shown = _shown(LAG, units=registry.rule("CONSUMER_LAG").units)
    assert shown["Final lag"] == {"shop.orders/0": "219 messages", "shop.orders/2": "1 message"}
    assert shown["First at"] == {"STALL": "2026-12-04 21:31:30 UTC", "WARN": "2026-12-04 21:17:30 UTC"}
    assert shown["Limits"]["lag_seen"] == "250 messages" and shown["Limits"]["time_lag_seen_s"] == "3.5 s"
    assert shown["Limits"]["polls_over"] == "3 polls" and shown["Limits"]["max_time_lag_s"] == "–"


def test_every_findings_times_read_the_same_way() -> None:
    """The ISO times other rules keep (a processing's `at`, a time inside a sentence, a datetime)
    read like CONSUMER_LAG's: date, time to the second (ms when it has them), UTC."""
    assert evidence.cell("2026-12-04T21:13:36.269727") == "2026-12-04 21:13:36.269 UTC"
    assert evidence.cell("ParcelPacked at 2026-12-04T21:18:09.570818") == "ParcelPacked at 2026-12-04 21:18:09.570 UTC"
    assert evidence.cell(datetime(2026, 12, 4, 21, 3, 11)) == "2026-12-04 21:03:11 UTC"
    assert evidence.cell("shop.orders/1/165") == "shop.orders/1/165" and evidence.cell("1/0") == "1/0"
    (_, table), = evidence.tables({"processings": [{"at": datetime(2026, 12, 4, 21, 13, 36, 269727)}]})
    assert table["At"].tolist() == ["2026-12-04 21:13:36.269 UTC"]


def test_trace_ids_are_links_to_the_trace_page() -> None:
    t1, t2, s1 = "ab" * 16, "cd" * 16, "ef" * 8
    ev = {"deepest_trace_id": t1, "trace_ids": [t1, t2], "limit": 3,
          "processings": [{"trace_id": t2, "span_id": s1, "instance": "i-1"}]}
    out = dict(evidence.tables(ev, trace_href=lambda t, s: f"./trace?trace={t}" + (f"&span={s}" if s else "")))
    assert out["Trace ids (2)"][evidence.TRACE_COLUMN].tolist() == [f"./trace?trace={t1}", f"./trace?trace={t2}"]
    assert out["Deepest trace id"][evidence.TRACE_COLUMN].tolist() == [f"./trace?trace={t1}"]
    assert out["Processings (1)"][evidence.TRACE_COLUMN].tolist() == [f"./trace?trace={t2}&span={s1}"]
    assert dict(out["Facts"].itertuples(index=False, name=None)) == {"Limit": "3"}
    # without links (the Event design page's HTML tables) the ids stay text, as before
    plain = dict(evidence.tables(ev))
    assert "Trace ids" in dict(plain["Facts"].itertuples(index=False, name=None))


def test_records_in_evidence_are_links_to_the_records_page() -> None:
    """PRODUCER_CLOCK_SKEW's records sit outside every time window: a link by position is the way to them."""
    ev = {"clocks": {"behind": 1}, "records": [{"record": "rides.requested/2/3", "clock": "behind", "off_by": 490270.0}]}
    out = dict(evidence.tables(ev, units={"off_by": "h"}, record_href=lambda rid: f"./records?record={rid}"))
    table = out["Records (1)"]
    assert table[evidence.RECORD_COLUMN].tolist() == ["./records?record=rides.requested/2/3"]
    assert table["Off by"].tolist() == ["490,270 h"]
    assert dict(evidence.tables(ev))["Records (1)"][evidence.RECORD_COLUMN].tolist() == ["rides.requested/2/3"]


def test_a_messages_processings_and_their_effects_get_tables_of_links_led_by_the_message() -> None:
    """IDEMPOTENCY_VIOLATION's evidence: the two processings of one message are what an SRE compares,
    so each is a link to its trace, not text inside the message's row."""
    t1, t2 = "ab" * 16, "cd" * 16
    ev = {"messages": [{"message": "shop.orders/1/165", "topic": "shop.orders", "processings": [
        {"trace_id": t1, "span_id": "1" * 16, "instance": "i-1",
         "effects": [{"effect": "event", "target": "shop.invoices", "trace_id": t1, "span_id": "2" * 16}]},
        {"trace_id": t2, "span_id": "3" * 16, "instance": "i-2", "effects": []}]}],
          "causation_duplicates": [{"causation_id": "c-1", "records": [{"partition": 1, "offset": 165},
                                                                         {"partition": 1, "offset": 166}]}]}
    out = dict(evidence.tables(ev, trace_href=lambda t, s: f"./trace?trace={t}&span={s}"))
    assert out["Messages (1)"]["Processings"].tolist() == ["2"]
    processings = out["Messages · Processings (2)"]
    assert processings.columns.tolist()[:2] == ["Message", evidence.TRACE_COLUMN]
    assert processings[evidence.TRACE_COLUMN].tolist() == [f"./trace?trace={t1}&span={'1' * 16}",
                                                           f"./trace?trace={t2}&span={'3' * 16}"]
    assert processings["Effects"].tolist() == ["1", "0"]
    effects = out["Messages · Processings · Effects (1)"]
    assert effects.iloc[0].tolist() == ["shop.orders/1/165", "event", "shop.invoices",
                                        f"./trace?trace={t1}&span={'2' * 16}", "2" * 16]
    records = out["Causation duplicates · Records (2)"]
    assert records.values.tolist() == [["c-1", "1", "165"], ["c-1", "1", "166"]]


def test_plural_nouns_read_as_english() -> None:
    assert plural(14, "entity") == "14 entities" and plural(2, "key") == "2 keys"
    assert plural(3, "record or event id") == "3 records or event ids" and plural(1, "dead letter") == "1 dead letter"


def test_other_rules_numbers_carry_their_units_too() -> None:
    def facts(rule, ev):
        return dict(evidence.tables(ev, units=registry.rule(rule).units)[0][1].itertuples(index=False, name=None))

    assert facts("PUBLISH_BEFORE_COMMIT", {"max_before_commit_ms": 9.572}) == {"Max before commit": "9.57 ms"}
    assert facts("REDELIVERY", {"extra_processings": 10, "restarts": 1}) == \
        {"Extra processings": "10 processings", "Restarts": "1 restart"}
    assert facts("LONG_SYNC_CHAIN", {"max_depth": 4, "limit": 3}) == {"Max depth": "4 hops", "Limit": "3 hops"}
    assert facts("OUT_OF_ORDER_PROCESSING", {"entities": 14}) == {"Entities": "14 entities"}
    (title, table), = evidence.tables({"added_latency_ms": {"p50": 26.849, "max": 38.693}},
                                      units=registry.rule("REQUEST_REPLY_OVER_EVENTS").units)
    assert title == "Added latency" and table["Value"].tolist() == ["26.8 ms", "38.7 ms"]
