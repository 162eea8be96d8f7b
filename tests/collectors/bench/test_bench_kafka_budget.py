"""`bench kafka`'s verdict on the memory budget: the highest peak of its runs, in MB as the budget
is given, against 400 MB, and the best budgeted rate against the unbudgeted tap's."""

from __future__ import annotations

from collectors.bench.kafka import _budget_line, _budget_verdict

MIB = 2**20 / 1e6


def test_the_highest_peak_counts_and_both_conditions_are_needed() -> None:
    runs = [{"peak_mb": 300.0}, {"peak_mb": 370.0}, {"peak_mb": 330.0}]  # 370 MiB = 388 MB
    line = _budget_line("seamwatch collect", runs, 190_000, 200_000, 500_000)
    verdict = _budget_verdict("seamwatch collect", runs, 190_000, 200_000)
    assert line.startswith(f"seamwatch collect under --memory 400MB: peak RSS {370 * MIB:.0f} MB (highest of 3 runs)")
    assert "95% of its best without a budget, 38% of kcat" in line
    assert verdict.startswith("target: seamwatch collect's peak RSS < 400 MB at full speed")
    assert verdict.endswith("met (388 MB, 95%)") and "NOT" not in verdict


def test_slower_than_full_speed_or_over_the_budget_is_not_met() -> None:
    assert "NOT met (354 MB, 65%)" in _budget_verdict("tap", [{"peak_mb": 338.0}], 130_000, 200_000)
    assert "NOT met (402 MB, 100%)" in _budget_verdict("tap", [{"peak_mb": 383.0}], 200_000, 200_000)
