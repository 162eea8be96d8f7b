"""The offline simulator: deterministic bytes, fresh default start, formats the importer accepts."""

from __future__ import annotations

import json
from pathlib import Path

from sample_topology.expected_findings import dumps, expected_findings
from sample_topology.simulator import FILES, SCHEMAS, default_start, simulate_to_dir

START = 1_764_230_400_000_000  # 2025-11-27T08:00:00Z


def _bytes(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_same_seed_and_start_give_identical_bytes(tmp_path: Path) -> None:
    a = simulate_to_dir(tmp_path / "a", seed=11, minutes=3, start_us=START)
    b = simulate_to_dir(tmp_path / "b", seed=11, minutes=3, start_us=START)
    assert sorted(_bytes(tmp_path / "a")) == sorted([*FILES.values(), f"{SCHEMAS}/1001.json"])
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert a.counts == b.counts and a.incidents == b.incidents
    c = simulate_to_dir(tmp_path / "c", seed=12, minutes=3, start_us=START)
    for name, data in _bytes(tmp_path / "c").items():
        if name in FILES.values():  # the schemas do not depend on the seed
            assert data != _bytes(tmp_path / "a")[name], name
    assert c.counts != a.counts


def test_ids_do_not_depend_on_the_start(tmp_path: Path) -> None:
    simulate_to_dir(tmp_path / "a", seed=11, minutes=2, start_us=START)
    simulate_to_dir(tmp_path / "b", seed=11, minutes=2, start_us=START + 3_600_000_000)
    lines_a = (tmp_path / "a" / FILES["records"]).read_text().splitlines()
    lines_b = (tmp_path / "b" / FILES["records"]).read_text().splitlines()
    for la, lb in zip(lines_a, lines_b, strict=True):
        ra, rb = json.loads(la), json.loads(lb)
        assert (ra["topic"], ra["partition"], ra["offset"], ra["key"]) == (rb["topic"], rb["partition"], rb["offset"],
                                                                           rb["key"])
        assert rb["timestamp"] - ra["timestamp"] == 3_600_000


def test_default_start_is_now_minus_minutes_floored_to_the_minute(tmp_path: Path) -> None:
    now = 1_764_230_459_999_999  # 08:00:59.999999
    assert default_start(30, now) == START - 30 * 60_000_000
    report = simulate_to_dir(tmp_path, seed=3, minutes=1)
    assert report.start_us % 60_000_000 == 0
    first = json.loads((tmp_path / FILES["offsets"]).read_text().splitlines()[0])
    assert first["group_id"] and first["polled_at"].endswith("Z")


def test_report_counts_match_the_files(tmp_path: Path) -> None:
    report = simulate_to_dir(tmp_path, seed=5, minutes=2, start_us=START)
    spans = 0
    for line in (tmp_path / FILES["spans"]).read_text().splitlines():
        doc = json.loads(line)
        n = sum(len(ss["spans"]) for rs in doc["resourceSpans"] for ss in rs["scopeSpans"])
        assert n <= 300  # batched like an exporter, a few hundred spans a line
        spans += n
    assert spans == report.counts["spans"]
    assert len((tmp_path / FILES["records"]).read_text().splitlines()) == report.counts["records"]
    offsets = [json.loads(x) for x in (tmp_path / FILES["offsets"]).read_text().splitlines()]
    assert sum("group_id" in o for o in offsets) == report.counts["group_offsets"]
    assert sum("observed_at" in o for o in offsets) == report.counts["topic_offsets"]
    assert report.summary().count("\n") == 0 and f"{report.counts['spans']} spans" in report.summary()
    assert {i.rule for i in report.incidents} >= {"LONG_SYNC_CHAIN", "SYNC_SIDE_EFFECT", "DEAD_LETTER",
                                                   "IDEMPOTENCY_VIOLATION", "DUPLICATE_PUBLISH", "REDELIVERY"}


def test_checked_in_golden_file_is_what_the_plan_produces() -> None:
    golden = Path(__file__).parents[2] / "sample_topology" / "expected_findings.json"
    assert golden.read_text(encoding="utf-8") == dumps(expected_findings(7, 30)), (
        "regenerate: python -m sample_topology.expected_findings > sample_topology/expected_findings.json")
