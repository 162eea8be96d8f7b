"""The Event lag page over a small hand-built capture (the sample's lags are minutes long)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.apptest import page_over
from tests.support.builders import Data


@pytest.mark.file_only  # a store written, closed, then browsed
def test_an_end_to_end_lag_under_a_second_is_told_in_ms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Consumers 0.3 s behind their producers: the headline read '0 s'."""
    def fill(data: Data) -> None:
        for i in range(4):
            t = data.trace_id()
            send = data.produce(t, "trips-api", "rhx.trips", at=i, partition=0, offset=i)
            data.process(t, "billing-service", "billing", "rhx.trips", 0, i, at=i + 0.3, parent=send)
            data.poll("billing", "rhx.trips", 0, i + 1, at=i + 0.5)

    at = page_over(tmp_path, monkeypatch, fill, "views/lag.py")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Worst p95 end-to-end"] == "300 ms", shown
    # and so is its chart's axis: at one decimal of a second, 0.3–0.45 s read "0.4, 0.4, 0.3, 0.3"
    [trend] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "end-to-end" in json.loads(c.proto.spec)["layout"]["yaxis"]["title"]["text"]]
    assert trend["layout"]["yaxis"]["title"]["text"] == "p95 end-to-end lag (ms)"
    assert trend["layout"]["yaxis"]["tickformat"] == ",.4~f"
    ys = [np.frombuffer(base64.b64decode(d["y"]["bdata"]), d["y"]["dtype"]) if isinstance(d["y"], dict) else d["y"]
          for d in trend["data"]]  # plotly sends arrays as base64 of their bytes
    assert max(max(y) for y in ys) == pytest.approx(300, abs=1)


@pytest.mark.file_only  # a store written, closed, then browsed
def test_the_longest_time_lag_is_unknown_while_a_group_behind_cannot_be_timed(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped group 250,000 messages behind on a topic whose end never moved has no time lag
    yet; beside a caught-up group the headline read '0 s'."""
    def fill(data: Data) -> None:
        for i in range(5):
            data.poll("old-bench", "bench", 0, 0, high_watermark=250_000, members=0, state="Empty", at=i * 10)
            data.end_offset("bench", 0, 250_000, at=i * 10)
            data.poll("billing", "rhx.trips", 0, 12, at=i * 10)
            data.end_offset("rhx.trips", 0, 12, at=i * 10)

    at = page_over(tmp_path, monkeypatch, fill, "views/lag.py")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Messages behind"] == "250,000"
    assert shown["Longest time lag"] == "unknown", shown


@pytest.mark.file_only  # a store written, closed, then browsed
def test_a_cluster_of_many_groups_charts_the_worst_and_lists_them_all(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """40 groups, one 5,000 messages behind: the charts take the 25 worst (it among them) and say so;
    the table keeps all 40."""
    import json

    from dashboard.views.lag import CHART_GROUPS

    def fill(data: Data) -> None:
        for g in range(40):
            behind = 5_000 if g == 33 else g % 3
            for i in range(3):
                data.poll(f"team-{g:02d}", "orders", 0, 10_000 + 100 * i - behind, at=10 * i,
                          high_watermark=10_000 + 100 * i)

    at = page_over(tmp_path, monkeypatch, fill, "views/lag.py")
    assert any(f"Charted: the {CHART_GROUPS} worst of 40 consumer groups" in c.value for c in at.caption)
    strip, lines = (json.loads(c.proto.spec) for c in at.get("plotly_chart")[:2])
    charted = {y for trace in strip["data"] for y in trace["y"]}
    assert len(charted) == CHART_GROUPS and "team-33" in charted, charted
    assert {t["name"] for t in lines["data"]} == charted
    assert len(next(d.value for d in at.dataframe if "group_id" in d.value.columns)) == 40


@pytest.mark.file_only  # a store written, closed, then browsed
def test_a_caught_up_partitions_lag_sparkline_is_not_drawn_in_alarm_red(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A group at zero lag over its last commits: the sparkline was drawn in the primary colour,
    red, as if something were wrong. It is green unless the lag rose, on an axis from zero."""
    def fill(data: Data) -> None:
        for i in range(10):
            data.poll("billing", "rhx.trips", 0, 100 + i, at=i * 10)

    at = page_over(tmp_path, monkeypatch, fill, "views/lag.py", group="billing")
    table = next(d for d in at.dataframe if "window_lags" in d.value.columns)
    assert [list(v) for v in table.value["window_lags"]] == [[0] * 10]
    config = json.loads(table.proto.columns)["window_lags"]
    assert config["type_config"]["color"] == "auto-inverse", config  # green, red only when the lag rose
    assert config["type_config"]["y_min"] == 0, config


@pytest.mark.file_only  # a store written, closed, then browsed
def test_each_partition_says_how_long_its_oldest_unread_record_is_still_kept(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A group 50 s behind on a topic kept 60 s: 10 s left before retention deletes what it has not read.
    A topic of that name on another cluster, kept 30 s, is not this one: the page read 0 s, the
    shortest retention across clusters."""
    def fill(data: Data) -> None:
        for s in range(0, 61, 10):
            data.end_offset("shop.orders", 0, s * 10, at=s)
        data.poll("billing", "shop.orders", 0, 100, at=60, high_watermark=600)
        data.settings("shop.orders", retention_ms=60_000)
        data.settings("shop.orders", retention_ms=30_000, cluster="staging")

    at = page_over(tmp_path, monkeypatch, fill, "views/lag.py", group="billing", range="all")
    table = next(d for d in at.dataframe if "retention_left_s" in d.value.columns)
    assert table.value["retention_left_s"].tolist() == ["10.0"]
    assert json.loads(table.proto.columns)["retention_left_s"]["label"] == "Kept for (s)"
