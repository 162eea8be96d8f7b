"""The findings timeline draws each finding from its first to its last sighting."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard.charts.findings import findings_timeline

T0 = datetime(2026, 3, 2, 12, 0, 0)


def _findings(*spans: tuple[str, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"rule": rule, "subject": "s", "severity": "warning", "count": 1,
                          "first_seen": T0 + timedelta(seconds=a), "last_seen": T0 + timedelta(seconds=b)}
                         for rule, a, b in spans])


def _widths_s(fig) -> dict[str, float]:
    out = {}
    for trace in fig.data:
        for label, width in zip(trace.customdata[:, 0], trace.x, strict=True):
            out[label.split(" · ")[0]] = width / 1000
    return out


def test_a_short_capture_draws_each_finding_as_long_as_it_was_seen() -> None:
    # an 18-second capture: a finding seen for 6 s must not be drawn 15 s long, past the data's end
    fig = findings_timeline(_findings(("LONG_SYNC_CHAIN", 10, 16), ("CONSUMER_LAG", 2, 20), ("DEAD_LETTER", 12, 12)))
    widths = _widths_s(fig)
    assert widths["LONG_SYNC_CHAIN"] == 6
    assert widths["CONSUMER_LAG"] == 18
    assert 0 < widths["DEAD_LETTER"] <= 1  # seen once: a sliver within the capture


def test_a_finding_seen_once_in_a_day_still_shows() -> None:
    widths = _widths_s(findings_timeline(_findings(("DEAD_LETTER", 3600, 3600), ("CONSUMER_LAG", 0, 86_400))))
    assert widths["DEAD_LETTER"] >= 86_400 / 200  # visible at the chart's scale
