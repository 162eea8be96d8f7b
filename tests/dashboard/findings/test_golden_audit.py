"""Golden test: the sample shop's delivery, design and topology incidents, found exactly.

The simulator's files go through `seamwatch import`, then `seamwatch findings --json` runs
the whole engine over all of it. Every expected finding of this package's rules in
sample_topology's expected_findings.json must be there with its severity, subject, count,
ids and times; nothing else of these rules may appear at warning or above, and nothing at
warning or above on what the file declares healthy.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner

from dashboard.cli import cli
from dashboard.findings import registry
from dashboard.findings.model import severity_rank
from tests.support.golden import GOLDEN_START

RULES = registry.ids(family="audit")
START = GOLDEN_START
# Kafka record timestamps are milliseconds; the plan keeps microseconds.
TIME_TOLERANCE_S = 0.002
# The golden file's causes, in this package's words.
CAUSES = {"blocking-retry": "blocking_retry", "rebalance": "restart_rebalance", "restart": "restart_rebalance",
          "crash": "restart_rebalance"}


@pytest.fixture(scope="module")
def report(golden_shop):
    result = CliRunner().invoke(cli, ["findings", "--db", str(golden_shop.db), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["errors"] == {}
    return doc


def _s(iso: str | None) -> float | None:
    return None if iso is None else round((datetime.fromisoformat(iso) - START).total_seconds(), 3)


def _mine(report, rule=None):
    return [f for f in report["findings"] if f["rule"] in RULES and (rule is None or f["rule"] == rule)]


def _expected(golden, rule=None):
    return [f for f in golden["findings"] if f["rule"] in RULES and (rule is None or f["rule"] == rule)]


def _one(report, rule, subject):
    hits = [f for f in _mine(report, rule) if f["subject"] == subject]
    assert len(hits) == 1, f"{rule} {subject}: {len(hits)} findings"
    return hits[0]


def test_every_expected_finding_with_its_severity_count_and_times(report, golden):
    for exp in _expected(golden):
        got = _one(report, exp["rule"], exp["subject"])
        assert (got["severity"], got["subject_kind"], got["count"]) == \
            (exp["severity"], exp["subject_kind"], exp["count"]), exp["rule"]
        consumed_edge = exp["rule"] == "UNDECLARED_EDGE" and exp["subject"].startswith("shop.")
        if consumed_edge:
            continue  # seen from processing spans and offset polls; the plan times the commits
        for key in ("first_seen", "last_seen"):
            want, have = exp[f"{key}_s"], _s(got[key])
            assert (want is None) == (have is None), (exp["rule"], exp["subject"], key)
            if want is not None:
                assert abs(have - want) <= TIME_TOLERANCE_S, (exp["rule"], exp["subject"], key, have, want)


def test_no_other_finding_of_these_rules(report, golden):
    expected = {(f["rule"], f["subject"]) for f in _expected(golden)}
    extra = [(f["rule"], f["subject"], f["severity"]) for f in _mine(report)
             if (f["rule"], f["subject"]) not in expected]
    assert extra == []


def test_nothing_at_warning_or_above_on_healthy_subjects(report, golden):
    bad = []
    for h in golden["healthy"]:
        if h["rule"] not in RULES:
            continue
        bad += [(f["rule"], f["subject"], f["severity"]) for f in _mine(report, h["rule"])
                if f["subject"] == h["subject"] and severity_rank(f["severity"]) >= severity_rank("warning")]
    assert bad == []


def test_redeliveries_name_the_records_processings_and_causes(report, golden):
    for exp in _expected(golden, "REDELIVERY"):
        got = _one(report, "REDELIVERY", exp["subject"])["evidence"]
        want = {(m["topic"], m["partition"], m["offset"]): m for m in exp["evidence"]["messages"]}
        have = {(m["topic"], m["partition"], m["offset"]): m for m in got["records"]}
        assert set(have) == set(want)
        for key, m in want.items():
            assert have[key]["span_ids"] == m["span_ids"]
            assert have[key]["processings"] == m["processings"]
            assert set(have[key]["instances"]) == set(m["instances"])
            assert have[key]["cause"] == CAUSES[m["cause"]], key
        assert got["extra_processings"] == exp["evidence"]["extra_processings"]


def test_idempotency_violation_shows_both_processings_and_their_effects(report, golden):
    (exp,) = _expected(golden, "IDEMPOTENCY_VIOLATION")
    got = _one(report, "IDEMPOTENCY_VIOLATION", exp["subject"])["evidence"]
    assert [m["event_id"] for m in got["messages"]] == [v["event_id"] for v in exp["evidence"]["violations"]]
    for m, v in zip(got["messages"], exp["evidence"]["violations"], strict=True):
        assert [[t["topic"], t["partition"], t["offset"]] for t in v["messages"]] == \
            [[m["topic"], *o] for o in m["offsets"]]
        assert [p["span_id"] for p in m["processings"]] == [p["span_id"] for p in v["processings"]]
        assert [p["instance"] for p in m["processings"]] == [p["instance"] for p in v["processings"]]
        for p, q in zip(m["processings"], v["processings"], strict=True):
            kinds = sorted({"db_write": "db", "event": "produce", "http_call": "http"}[e["effect"]]
                           for e in p["effects"])
            assert kinds == sorted(e.split()[0] for e in q["effects"])
    # the same violation, seen from the records alone: two invoices caused by one order
    causations = {c["causation_id"]: len(c["records"]) for c in got["causation_duplicates"]}
    assert causations == exp["evidence"]["downstream_events_per_causation"]


def test_dead_letters_name_origin_group_error_and_recovery(report, golden):
    for exp in _expected(golden, "DEAD_LETTER"):
        e = exp["evidence"]
        (rec,) = _one(report, "DEAD_LETTER", exp["subject"])["evidence"]["records"]
        assert (rec["partition"], rec["offset"]) == (e["record"]["partition"], e["record"]["offset"])
        assert rec["origin"] == e["origin"]
        assert (rec["group"], rec["family"], rec["error"], rec["message"], rec["event_id"]) == \
            (e["group"], e["family"], e["exception_class"], e["exception_message"], e["event_id"])
        assert (rec["recovered_by"] is not None) == e["origin_processed_later"]


def test_duplicate_publication_and_design_evidence(report, golden):
    for exp in _expected(golden, "DUPLICATE_PUBLISH"):
        (ids,) = _one(report, "DUPLICATE_PUBLISH", exp["subject"])["evidence"]["event_ids"]
        assert ids["event_id"] == exp["evidence"]["event_id"]
        assert [(loc["partition"], loc["offset"]) for loc in ids["locations"]] == \
            [(r["partition"], r["offset"]) for r in exp["evidence"]["records"]]
    for exp in _expected(golden, "EVENT_AS_COMMAND"):
        got = _one(report, "EVENT_AS_COMMAND", exp["subject"])["evidence"]
        assert got["command_types"] == [exp["evidence"]["event_type"]]
    for exp in _expected(golden, "ENVELOPE_MISSING"):
        types = _one(report, "ENVELOPE_MISSING", exp["subject"])["evidence"]["event_types"]
        missing = types[exp["evidence"]["event_type"]]["missing"]
        assert sorted(k.replace("missing_", "event_") for k in missing) == sorted(exp["evidence"]["missing"])


def test_unversioned_schema_change_shows_both_shapes_and_their_first_records(report, golden):
    expected = _expected(golden, "UNVERSIONED_SCHEMA_CHANGE")
    assert expected, "the sample shop changes a shape under one version"
    for exp in expected:
        [change] = _one(report, "UNVERSIONED_SCHEMA_CHANGE", exp["subject"])["evidence"]["changes"]
        ev = exp["evidence"]
        assert (change["event_type"], change["version"]) == (ev["event_type"], ev["version"])
        assert (change["before"]["first_record"], change["after"]["first_record"]) == (
            ev["first_record_before"], ev["first_record_after"])
        assert change["retyped"] == {"weight": ["number", "string"]}
        assert change["removed"] == ["dimensions", "dimensions.h", "dimensions.l", "dimensions.w"]


def test_the_scorecard_judges_each_line_of_the_guidance_on_the_sample_shop(report, golden):
    card = {row["line"]: row for row in report["scorecard"]}
    assert list(card) == ["facts", "ids", "timestamps", "versions", "context", "idempotent", "sync_chains",
                          "commit_then_publish", "no_rpc", "ordering", "dead_letters"]
    for row in card.values():
        assert row["rules"] and row["pass"] + row["fail"] == row["observed"] > 0, row["line"]
        assert row["status"] == ("fail" if row["fail"] else "pass")
        for x in row["failing"]:
            assert all(f["rule"] in row["rules"] and f["finding"].startswith(f["rule"] + ":") for f in x["findings"])

    def failing(line):
        return {x["subject"] for x in card[line]["failing"]}

    def subjects(rule, key=None):
        return {f["evidence"][key] if key else f["subject"] for f in golden["findings"]
                if f["rule"] == rule and f["severity"] != "info"}

    assert failing("commit_then_publish") == {s.split(" -> ")[0] for s in subjects("PUBLISH_BEFORE_COMMIT")} \
        == {"loyalty-api"}
    assert failing("no_rpc") == subjects("PASSIVE_AGGRESSIVE_EVENT") | subjects("REQUEST_REPLY_OVER_EVENTS",
                                                                               "request_topic")
    assert failing("ordering") == subjects("OUT_OF_ORDER_PROCESSING", "topic") == {"shop.parcels"}
    assert failing("versions") == subjects("UNVERSIONED_SCHEMA_CHANGE") | {
        f["subject"] for f in golden["findings"]
        if f["rule"] == "ENVELOPE_MISSING" and "event_version" in f["evidence"]["missing"]}
    assert failing("idempotent") == subjects("IDEMPOTENCY_VIOLATION")
    assert failing("facts") == subjects("EVENT_AS_COMMAND")
    groups = {f["subject"] for f in golden["findings"] + golden["healthy"] if f["rule"] == "REDELIVERY"}
    # the Kafka Connect sink has no spans: seen only by its committed offsets, it is not judged
    assert card["idempotent"]["observed"] == len(groups - {"connect-warehouse-sink"}) == len(groups) - 1
    assert card["idempotent"]["unobserved"] == 1 and card["dead_letters"]["unobserved"] == 0
    # the healthy look-alikes pass: the refunds' service, the fire-and-forget topics, the stable-key topics
    assert "payments-api" not in failing("commit_then_publish") and "shop.refunds" not in failing("no_rpc")
