"""`seamwatch demo --load-only` end to end: the counts it prints, and the incidents' raw facts in the store."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from collectors.topology import load_topology
from dashboard.cli import cli
from sample_topology import TOPOLOGY_FILE
from sample_topology.expected_findings import expected_findings
from sample_topology.simulator import simulate_to_dir

SEED, MINUTES = 7, 8


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("demo")
    db = tmp / "demo.duckdb"
    result = CliRunner().invoke(cli, ["demo", "--load-only", "--db", str(db), "--seed", str(SEED),
                                      "--minutes", str(MINUTES)])
    assert result.exit_code == 0, result.output
    return {"db": db, "output": result.output, "golden": expected_findings(SEED, MINUTES),
            "report": simulate_to_dir(tmp / "files", seed=SEED, minutes=MINUTES)}


@pytest.fixture(scope="module")
def con(demo: dict[str, Any]):
    c = duckdb.connect(str(demo["db"]), read_only=True)
    yield c
    c.close()


def _findings(demo: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    return [f for f in demo["golden"]["findings"] if f["rule"] == rule]


def test_printed_counts_match_the_simulator_report(demo: dict[str, Any]) -> None:
    printed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+(\d+)$", demo["output"], re.M)}
    for table, n in demo["report"].counts.items():
        assert printed[table] == n, table
    assert printed["ingest_errors"] == 0
    topology = load_topology(TOPOLOGY_FILE)
    assert (printed["topology_services"], printed["topology_groups"]) == (len(topology.services), len(topology.groups))
    assert f"simulator: {demo['report'].summary()}" in demo["output"]


def test_dead_letters_decode_to_their_origin(demo: dict[str, Any], con) -> None:
    dead = _findings(demo, "DEAD_LETTER")
    assert {f["evidence"]["family"] for f in dead} == {"spring-dlt", "connect"}
    for f in dead:
        rec, origin = f["evidence"]["record"], f["evidence"]["origin"]
        row = con.execute(
            'SELECT is_dead_letter, dlt_family, dlt_origin_topic, dlt_origin_partition, dlt_origin_offset, '
            'dlt_origin_group, dlt_exception_class, event_id FROM records WHERE topic = ? AND "partition" = ? '
            'AND "offset" = ?', [rec["topic"], rec["partition"], rec["offset"]]).fetchall()
        assert row == [(True, f["evidence"]["family"], origin["topic"], origin["partition"], origin["offset"],
                        f["evidence"]["group"], f["evidence"]["exception_class"], f["evidence"]["event_id"])]
        src = con.execute('SELECT event_id, is_dead_letter FROM records WHERE topic = ? AND "partition" = ? '
                          'AND "offset" = ?', [origin["topic"], origin["partition"], origin["offset"]]).fetchall()
        assert src == [(f["evidence"]["event_id"], False)]


def test_duplicate_event_sits_at_two_offsets_with_one_payload(demo: dict[str, Any], con) -> None:
    [dup] = _findings(demo, "DUPLICATE_PUBLISH")
    rows = con.execute('SELECT topic, "partition", "offset", value_hash, trace_id FROM records '
                       'WHERE event_id = ? AND NOT is_dead_letter ORDER BY "offset"', [dup["evidence"]["event_id"]]
                       ).fetchall()
    assert [{"topic": t, "partition": p, "offset": o} for t, p, o, _, _ in rows] == dup["evidence"]["records"]
    assert len({h for *_, h, _ in rows}) == 1 and {tr for *_, tr in rows} == {dup["evidence"]["producer_trace_id"]}


def test_chains_in_the_store_match_the_golden_traces(demo: dict[str, Any], con) -> None:
    hop = ("SELECT DISTINCT s.trace_id FROM spans s JOIN spans c ON s.parent_span_id = c.span_id "
           "AND s.trace_id = c.trace_id WHERE s.kind = 2 AND c.kind = 3 AND s.service = ? AND c.service = ?")
    deep = {r[0] for r in con.execute(hop, ["currency-rates", "tax-api"]).fetchall()}
    [chain] = _findings(demo, "LONG_SYNC_CHAIN")
    assert sorted(deep) == chain["evidence"]["trace_ids"] and chain["count"] == len(deep) > 0
    mail = {r[0] for r in con.execute(hop, ["email-service", "web-checkout"]).fetchall()}
    [side] = _findings(demo, "SYNC_SIDE_EFFECT")
    assert sorted(mail) == side["evidence"]["trace_ids"] and side["count"] == len(mail) > 0


def _processings(con, group: str, m: dict[str, Any]) -> list[tuple]:
    return con.execute(
        "SELECT p.span_id, p.service_instance, count(e.span_id) FILTER (WHERE e.db_operation = 'INSERT') "
        "FROM spans p LEFT JOIN spans e ON e.parent_span_id = p.span_id AND e.trace_id = p.trace_id "
        'WHERE p.kind = 5 AND p.consumer_group = ? AND p.destination = ? AND p."partition" = ? AND p."offset" = ? '
        "GROUP BY ALL ORDER BY min(p.start_time)", [group, m["topic"], m["partition"], m["offset"]]).fetchall()


def test_redeliveries_come_from_new_instances(demo: dict[str, Any], con) -> None:
    by_group = {f["subject"]: f for f in _findings(demo, "REDELIVERY")}
    assert {"reporting", "invoicing", "email"} <= set(by_group)
    for group, f in by_group.items():
        for m in f["evidence"]["messages"]:
            rows = _processings(con, group, m)
            assert [r[0] for r in rows] == m["span_ids"]
            if m["cause"] in ("crash", "restart", "rebalance"):
                assert len({r[1] for r in rows}) > 1  # the redelivery ran on another instance
            else:
                assert len({r[1] for r in rows}) == 1  # a blocking retry stays on its instance


def test_invoicing_wrote_twice_and_email_absorbed(demo: dict[str, Any], con) -> None:
    [v] = _findings(demo, "IDEMPOTENCY_VIOLATION")
    assert v["subject"] == "invoicing"
    [viol] = v["evidence"]["violations"]
    [message] = viol["messages"]
    rows = _processings(con, "invoicing", message)
    assert [r[2] for r in rows] == [1, 1]
    issued = con.execute("SELECT count(*), count(DISTINCT event_id) FROM records WHERE topic = 'shop.invoices' "
                         "AND causation_id = ?", [viol["event_id"]]).fetchone()
    assert issued == (2, 2)
    email = next(f for f in _findings(demo, "REDELIVERY") if f["subject"] == "email")
    for m in email["evidence"]["messages"]:
        if m["cause"] == "rebalance":
            assert [r[2] for r in _processings(con, "email", m)] == [1, 0]


def test_every_record_points_at_its_producer_span(con) -> None:
    orphans = con.execute(
        "SELECT r.topic, r.\"offset\" FROM records r LEFT JOIN spans p ON p.trace_id = r.trace_id "
        "AND p.span_id = r.parent_span_id AND p.kind = 4 WHERE p.span_id IS NULL").fetchall()
    assert orphans == []
    mismatched = con.execute(
        "SELECT count(*) FROM records r JOIN spans p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id "
        "WHERE NOT r.is_dead_letter AND (p.destination <> r.topic OR p.\"partition\" <> r.\"partition\")").fetchone()
    assert mismatched == (0,)


def test_both_consumer_styles_and_semconv_generations(con) -> None:
    styles = dict(con.execute(
        "SELECT c.service, bool_and(len(c.links) = 1 AND p.kind = 4) FROM spans c "
        "LEFT JOIN spans p ON p.span_id = c.links[1].span_id WHERE c.kind = 5 GROUP BY 1").fetchall())
    assert styles == {"email-service": True, "analytics-service": True, "invoicing-service": True,
                      "address-service": True, "tracking-service": True, "fulfillment-service": False,
                      "reporting-service": False,
                      "shipping-service": False, "web-checkout": False}  # the shipping quote's round trip: parents
    parented = dict(con.execute(
        "SELECT c.service, bool_and(p.kind = 4) FROM spans c JOIN spans p ON p.span_id = c.parent_span_id "
        "AND p.trace_id = c.trace_id WHERE c.kind = 5 GROUP BY 1").fetchall())
    assert parented == {"fulfillment-service": True, "reporting-service": True, "shipping-service": True,
                        "web-checkout": True}
    gens = dict(con.execute(
        "SELECT service, bool_or(json_exists(attributes, '$.\"http.method\"')) FROM spans WHERE kind = 2 "
        "GROUP BY 1").fetchall())
    assert gens["accounts-api"] and gens["inventory-api"] and not gens["orders-api"]
    ops = con.execute("SELECT DISTINCT json_extract_string(attributes, '$.\"messaging.operation\"'), operation_type "
                      "FROM spans WHERE kind = 4 AND service = 'accounts-api'").fetchall()
    assert ops == [("publish", "send")]


def test_offset_snapshots_agree_with_the_records(con) -> None:
    bad = con.execute("SELECT count(*) FROM group_offsets WHERE committed_offset > high_watermark").fetchone()
    assert bad == (0,)
    last = con.execute(
        'SELECT t.topic, t."partition", t.high_watermark, (SELECT count(*) FROM records r WHERE r.topic = t.topic '
        'AND r."partition" = t."partition" AND r."timestamp" <= t.observed_at) FROM topic_offsets t '
        "WHERE t.observed_at = (SELECT max(observed_at) FROM topic_offsets)").fetchall()
    assert last and all(hw == n for _, _, hw, n in last)


def test_demo_refuses_an_existing_file(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    db.write_bytes(b"")
    result = CliRunner().invoke(cli, ["demo", "--load-only", "--db", str(db)])
    assert result.exit_code == 2 and "exists already" in result.output


def test_scenario_start_can_be_read_back_from_the_store(demo: dict[str, Any], con) -> None:
    first_poll, first_span = con.execute("SELECT (SELECT min(polled_at) FROM group_offsets), "
                                         "(SELECT min(start_time) FROM spans)").fetchone()
    start = first_poll - timedelta(seconds=15)
    assert start.second == 0 and start.microsecond == 0
    assert start == first_span.replace(second=0, microsecond=0)
    last_poll = con.execute("SELECT max(polled_at) FROM group_offsets").fetchone()[0]
    assert (last_poll - start).total_seconds() == demo["golden"]["duration_s"]


def test_the_avro_topic_is_decoded_through_its_schema(demo: dict[str, Any], con) -> None:
    """shop.accounts travels as Avro in the Confluent wire format (schema id 1001): the demo
    decodes it with the schema the simulator writes, so its envelope is as complete as JSON's,
    and the registry's version 1 is the event version."""
    envelopes = con.execute(
        "SELECT envelope, count(*), count(event_id), count(event_time), min(event_version), max(event_version), "
        "min(value_excerpt LIKE '{\"eventId\"%') FROM records WHERE topic = 'shop.accounts' GROUP BY envelope"
    ).fetchall()
    assert len(envelopes) == 1
    envelope, n, with_id, with_time, vmin, vmax, shown = envelopes[0]
    assert envelope == "avro" and n == with_id == with_time and n > 0 and vmin == vmax == "1" and shown
    raw = con.execute("SELECT min(value_hash IS NOT NULL) FROM records WHERE topic = 'shop.accounts'").fetchone()
    assert raw == (True,)
    assert not any(f["rule"] == "ENVELOPE_MISSING" and f["subject"] == "shop.accounts"
                   for f in demo["golden"]["findings"])
