"""`seamwatch simulate` seeds each run afresh and says the seed; --seed repeats a run.

Two runs against one broker with one seed publish the same event ids, which the rules
rightly report as EVENT_ID_COLLISION: an artefact of the demo, not of the shop. The run
itself (run_live) is replaced by a recorder here: what is tested is which seed the command
hands it and prints; tests/collectors/kafka/test_live_e2e.py runs the shop for real."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from dashboard.cli import cli


class _Report:
    def lines(self) -> list[str]:
        return ["injected: nothing (recorded run)"]


@pytest.fixture
def seeds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import sample_topology.live as live

    got: list[int] = []

    def record(**kwargs):
        got.append(kwargs["seed"])
        return _Report()

    monkeypatch.setattr(live, "run_live", record)
    return got


def _run(tmp_path, *args: str):
    return CliRunner().invoke(cli, ["simulate", "--bootstrap", "127.0.0.1:9", "--spans-dir", str(tmp_path),
                                    "--duration", "5", *args], catch_exceptions=False)


def test_each_run_gets_a_fresh_seed_and_prints_it(tmp_path, seeds) -> None:
    first, second = _run(tmp_path), _run(tmp_path)
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    for result, seed in zip((first, second), seeds, strict=True):
        assert re.search(rf"^seed {seed}$", result.stdout, re.MULTILINE), result.stdout
        assert f"--seed {seed} repeats this run" in result.output


def test_seed_repeats_a_run(tmp_path, seeds) -> None:
    assert _run(tmp_path, "--seed", "42").exit_code == 0
    assert _run(tmp_path, "--seed", "42").exit_code == 0
    assert seeds == [42, 42]
