"""Golden test: the sample shop's trace-side incidents, found exactly, and nothing else.

The simulator's files go through `seamwatch import` (which derives every trace), then the
trace-side rules run over all of it and are compared with sample_topology's
expected_findings.json: every incident with its exact count, subject, ids and times, and
no finding at warning or above on what the file declares healthy.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from collectors.store import Store
from dashboard.analyses.window import Window
from dashboard.findings import registry
from dashboard.findings.model import severity_rank
from tests.support.golden import GOLDEN_START
from tests.support.rules import rule_findings

RULES = registry.ids(family="traces")
START = GOLDEN_START


@pytest.fixture(scope="module")
def found(golden_shop):
    topology = golden_shop.topology
    with Store(golden_shop.db, read_only=True) as store:
        cur = store.cursor()
        window = Window.everything(cur)
        depths = dict(cur.execute("SELECT max_depth, count(*) FROM trace_facts GROUP BY ALL").fetchall())
        return {"findings": rule_findings(cur, window, topology, *RULES),
                "depths": depths}


def _seconds(at: datetime | None) -> float | None:
    return None if at is None else round((at - START).total_seconds(), 3)


def _expected(golden):
    return [f for f in golden["findings"] if f["rule"] in RULES]


def test_trace_depth_histogram(found, golden):
    assert {str(k): v for k, v in sorted(found["depths"].items())} == golden["totals"]["trace_depths"]


def test_every_incident_found_exactly(found, golden):
    expected = _expected(golden)
    assert expected, "the golden file names trace-side incidents"
    got = {(f.rule, f.subject): f for f in found["findings"]}
    for e in expected:
        f = got.get((e["rule"], e["subject"]))
        assert f is not None, f"{e['rule']} on {e['subject']} not found"
        assert (f.severity, f.subject_kind, f.count) == (e["severity"], e["subject_kind"], e["count"]), e["rule"]
        assert _seconds(f.first_seen) == pytest.approx(e["first_seen_s"], abs=0.001), e["rule"]
        assert _seconds(f.last_seen) == pytest.approx(e["last_seen_s"], abs=0.001), e["rule"]
        if "trace_ids" in e["evidence"]:
            assert sorted(f.evidence["trace_ids"]) == sorted(e["evidence"]["trace_ids"]), e["rule"]


def test_evidence_details(found, golden):
    got = {(f.rule, f.subject): f for f in found["findings"]}
    for e in _expected(golden):
        f, ev = got[(e["rule"], e["subject"])], e["evidence"]
        if e["rule"] == "LONG_SYNC_CHAIN":
            assert (f.evidence["max_depth"], f.evidence["limit"]) == (ev["depth"], ev["limit"])
            assert f.evidence["deepest_path"] == ev["path"]
        elif e["rule"] == "CONSUMER_LAG":
            assert f.evidence["status"] == ev["status"]
            assert f.evidence["partitions"] == ev["partitions"]
            assert f.evidence["final_lag"] == ev["final_lag"]
            if ev["first_err_s"] is not None:
                first_bad = min(v for k, v in f.evidence["first_at"].items() if k != "WARN")
                assert _seconds(datetime.fromisoformat(first_bad)) == ev["first_err_s"]
        elif e["rule"] == "OUT_OF_ORDER_PROCESSING":
            assert (f.evidence["topic"], f.evidence["causes"]) == (ev["topic"], ev["causes"])
            assert all(x["processed"][0].split(" at ")[0] == x["produced"][1].split()[0]
                       for x in f.evidence["examples"])  # the later-produced event was handled first
        elif e["rule"] == "REQUEST_REPLY_OVER_EVENTS":
            assert (f.evidence["request_topic"], f.evidence["reply_topic"]) == (ev["request_topic"], ev["reply_topic"])
            assert f.evidence["added_latency_ms"]["max"] == pytest.approx(ev["max_wait_ms"], abs=0.002)
            assert "reply-to header" in f.evidence["correlated_by"]
        elif e["rule"] == "CALLBACK_CHATTER":
            assert (f.evidence["topic"], f.evidence["producer"], f.evidence["processed"]) == (
                ev["topic"], ev["producer"], ev["processings"])
            assert f.evidence["operation"] == ev["route"]


def test_nothing_else_at_warning_or_above(found, golden):
    expected = {(e["rule"], e["subject"]) for e in _expected(golden)}
    extra = [(f.rule, f.subject, f.severity) for f in found["findings"]
             if (f.rule, f.subject) not in expected and severity_rank(f.severity) >= severity_rank("warning")]
    assert extra == []
    healthy = {(h["rule"], h["subject"]) for h in golden["healthy"] if h["rule"] in RULES}
    assert healthy, "the golden file names healthy subjects for these rules"
    flagged = {(f.rule, f.subject) for f in found["findings"] if severity_rank(f.severity) >= severity_rank("warning")}
    assert flagged & healthy == set()
