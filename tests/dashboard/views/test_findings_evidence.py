"""The Findings page's evidence over the sample shop: what a user reads in its tables."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

from streamlit.testing.v1 import AppTest

from tests.support.apptest import open_page
from tests.support.golden import load_golden

GOLDEN = load_golden()


def _tables(at: AppTest) -> dict[str, object]:
    """Each evidence table by the bold title above it."""
    titles = [str(m.value).strip("*") for m in at.markdown if str(m.value).startswith("**")
              and str(m.value).endswith("**")]
    frames = at.dataframe[1:]  # the first is the list of findings
    return dict(zip(titles[-len(frames):], frames, strict=True))


def test_consumer_lag_evidence_has_units_and_utc_times(app: AppTest) -> None:
    group = next(f["subject"] for f in GOLDEN["findings"] if f["rule"] == "CONSUMER_LAG")
    at = open_page(app, "views/findings.py", finding=f"CONSUMER_LAG:{group}")
    tables = _tables(at)
    lag = tables["Final lag"].value
    assert len(lag) and lag["Value"].str.fullmatch(r"[\d,]+ messages?").all(), lag
    first = tables["First at"].value
    assert len(first) and first["Value"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").all(), first
    header = next(str(m.value) for m in at.markdown if "LAG** on group" in str(m.value))
    assert header.endswith(" messages"), header


def test_trace_ids_in_the_evidence_open_the_trace_page(app: AppTest) -> None:
    golden = next(f for f in GOLDEN["findings"] if f["rule"] == "LONG_SYNC_CHAIN")
    at = open_page(app, "views/findings.py", finding=f"{golden['rule']}:{golden['subject']}")
    traces = next(d for t, d in _tables(at).items() if t.startswith("Trace ids"))
    hrefs = traces.value["Trace"].tolist()
    assert hrefs and all(urlparse(h).path == "./trace" for h in hrefs)
    assert {parse_qs(urlparse(h).query)["trace"][0] for h in hrefs} >= set(golden["evidence"]["trace_ids"][:1])
    config = json.loads(traces.proto.columns)["Trace"]
    assert config["type_config"]["type"] == "link", config


def test_the_findings_list_says_what_each_count_counts(app: AppTest) -> None:
    at = open_page(app, "views/findings.py")
    table = at.dataframe[0].value
    of = dict(zip(table["rule"] + ":" + table["subject"], zip(table["count"], table["counted"], strict=True),
                  strict=True))
    lag = next(f for f in GOLDEN["findings"] if f["rule"] == "CONSUMER_LAG")
    assert of[f"CONSUMER_LAG:{lag['subject']}"] == (lag["count"], "messages")
    assert all(unit == ("record" if n == 1 else "records") for k, (n, unit) in of.items() if k.startswith("DEAD_LETTER:"))
