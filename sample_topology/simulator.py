"""The offline simulator: the sample shop's plan, written as files `seamwatch import` reads.

`simulate_to_dir()` writes spans.otlp.jsonl (OTLP JSON lines), records.jsonl (Kafka record
lines), offsets.jsonl (group and topic offset snapshots) and schemas/ (the schemas, by id,
of the events written in the Confluent wire format: import with --schemas DIR/schemas). For a given seed and start the
bytes are always the same; without a start the scenario ends at the current minute, so the
demo looks fresh in the dashboard's default time windows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sample_topology import encode_otlp, encode_records
from sample_topology.expected_findings import incidents_of
from sample_topology.plan import Plan
from sample_topology.scenario import build_plan

FILES = {"spans": "spans.otlp.jsonl", "records": "records.jsonl", "offsets": "offsets.jsonl"}
SCHEMAS = "schemas"  # folder of the Avro events' schemas, named by id (seamwatch import --schemas)


@dataclass(frozen=True)
class Incident:
    kind: str  # incident name (incidents.RULES keys)
    rule: str  # the rule id it should raise
    subject: str
    at_s: float  # seconds from the start
    count: int


@dataclass
class Report:
    seed: int
    minutes: int
    start_us: int
    counts: dict[str, int] = field(default_factory=dict)  # per store table: spans, records, group_offsets, ...
    files: dict[str, Path] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {t}" for t, n in self.counts.items())
        return f"seed {self.seed}, {self.minutes} min: {counts}; {len(self.incidents)} incidents injected"


def default_start(minutes: int, now_us: int | None = None) -> int:
    """Now minus `minutes`, floored to the minute."""
    now_us = int(time.time() * 1_000_000) if now_us is None else now_us
    minute = 60_000_000
    return (now_us // minute) * minute - minutes * minute


def _write(path: Path, lines: Iterable[str]) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
            n += 1
    return n


def write_plan(plan: Plan, out_dir: Path, start_us: int) -> Report:
    """Encode a plan into the three files under out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(plan.seed, plan.minutes, start_us)
    report.files = {k: out_dir / name for k, name in FILES.items()}
    _write(report.files["spans"], encode_otlp.lines(plan, start_us))
    report.counts["spans"] = sum(len(t.root.walk()) for t in plan.traces)
    report.counts["records"] = _write(report.files["records"], encode_records.record_lines(plan, start_us))
    n = _write(report.files["offsets"], encode_records.offset_lines(plan, start_us))
    report.files["schemas"] = out_dir / SCHEMAS
    report.files["schemas"].mkdir(exist_ok=True)
    for name, text in encode_records.schema_files().items():
        _write(report.files["schemas"] / name, [text])
    topic_points = len(encode_records.snapshot_times(plan)) * sum(plan.partitions.values())
    report.counts["group_offsets"] = n - topic_points
    report.counts["topic_offsets"] = topic_points
    report.incidents = [Incident(**i) for i in incidents_of(plan)]
    return report


def simulate_to_dir(out_dir: Path, *, seed: int = 7, minutes: int = 30, start_us: int | None = None) -> Report:
    """Simulate `minutes` of the sample shop into out_dir; returns counts and the injected incidents."""
    if minutes < 1:
        raise ValueError("minutes must be at least 1")
    plan = build_plan(seed, minutes)
    return write_plan(plan, Path(out_dir), default_start(minutes) if start_us is None else start_us)
