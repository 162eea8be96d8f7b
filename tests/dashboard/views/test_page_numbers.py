"""Every page shows the sample's headline numbers, taken from the golden findings and the
analyses themselves (never typed in here), and its drill-down opens on what a link names."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard.analyses import burrow
from dashboard.findings import engine
from dashboard.findings.noise import fold, is_folded
from tests.support.apptest import open_page
from tests.support.golden import load_golden

GOLDEN = load_golden()


def _counts(rule: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for f in GOLDEN["findings"]:
        if f["rule"] == rule:
            out[f["subject"]] += f["count"]
    return out


def _page(app: AppTest, path: str, **params: str) -> AppTest:
    at = open_page(app, path, **params)
    assert not at.error, [e.value for e in at.error]  # every page here has data to show
    return at


def test_overview_numbers(app, shown) -> None:
    at = _page(app, "views/overview.py")
    m = shown.metrics(at)
    assert m["Traces"] == f"{GOLDEN['totals']['traces']:,}"
    assert m["Kafka records"] == f"{GOLDEN['totals']['records']:,}"
    assert m["Dead letters"] == str(sum(_counts("DEAD_LETTER").values()))


def test_findings_lists_every_golden_finding(app, shown, everything) -> None:
    cur, window = everything
    report = engine.evaluate(cur, window)
    at = _page(app, "views/findings.py")
    m = shown.metrics(at)
    for sev in ("critical", "error", "warning", "info"):
        assert m[sev.capitalize()] == str(sum(f.severity == sev for f in report.findings))
    table = at.dataframe[0].value
    listed = set(zip(table["rule"], table["subject"], strict=True))
    # info findings of one rule share a row (dashboard/findings/noise.py): its evidence names them
    listed |= {(f.rule, one["subject"]) for f in fold(report.findings) if is_folded(f)
               for one in f.evidence["findings"]}
    for f in GOLDEN["findings"]:
        assert (f["rule"], f["subject"]) in listed, f
    # The worst finding is first, and its remedy is shown with its evidence.
    assert at.selectbox(key="find_key").value == report.findings[0].rule + ":" + report.findings[0].subject
    assert report.findings[0].remedy in shown.text(at)


def test_call_chains_numbers_and_a_linked_trace(app, shown) -> None:
    (subject, count), = _counts("LONG_SYNC_CHAIN").items()
    deepest = max(int(d) for d in GOLDEN["totals"]["trace_depths"])
    trace = next(f for f in GOLDEN["findings"] if f["rule"] == "LONG_SYNC_CHAIN")["evidence"]["trace_ids"][0]
    at = _page(app, "views/call_chains.py", trace=trace)
    m = shown.metrics(at)
    assert m["Deepest chain"] == f"{deepest} hops"
    assert m["Requests over the limit"] == f"{count:,}"
    assert m["Depth limit"] == str(GOLDEN["max_sync_depth"])
    assert at.selectbox(key="cc_trace").value == trace
    assert len(at.get("plotly_chart")) == 3, "the over-the-limit series, the latency over time and the trace's waterfall"


def test_event_lag_numbers(app, shown, everything) -> None:
    cur, window = everything
    groups = burrow.group_statuses(cur, window)
    # the groups still not OK at the end (the reporting crash loop's STOP lies in the past)
    lagging = {f["subject"]: f["count"] for f in GOLDEN["findings"]
               if f["rule"] == "CONSUMER_LAG" and f["last_seen_s"] == GOLDEN["duration_s"]}
    at = _page(app, "views/lag.py")
    m = shown.metrics(at)
    assert m["Groups not OK"] == f"{len(lagging)} of {len(groups)}"
    assert m["Messages behind"] == f"{sum(lagging.values()):,}"
    assert at.selectbox(key="lag_group").value == next(iter(lagging)), "the worst group is drilled into first"
    # each partition not OK: the offset it stands at, a link to the record there, the last commit, why
    stuck = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    assert len(stuck) == 3 and stuck["reason"].str.len().min() > 10
    assert stuck["record"].str.contains("record=shop.orders").all()
    assert stuck["last_commit"].notna().all()
    chosen = at.selectbox(key="lag_record").value
    assert chosen == f"shop.orders/{int(stuck['partition'].iloc[0])}/{int(stuck['committed_offset'].iloc[0])}"
    assert "**Key:**" in shown.text(at) or any("Key:" in str(m.value) for m in at.markdown)


def test_event_lag_group_table_reads_in_the_unit_its_header_names(app, everything) -> None:
    """The groups table's time lag and p95 end-to-end are text in one unit per column, '–' when
    unknown: they were shown raw (seconds, 'None') under a header that could say min or h."""
    from dashboard.analyses import lag
    from dashboard.ui import numbers

    cur, window = everything
    worst = lag.time_lag_latest(cur, window).groupby("group_id")["time_lag_s"].max()
    at = _page(app, "views/lag.py")
    table = next(d.value for d in at.dataframe if "p95_e2e_s" in d.value.columns)
    for column in ("time_lag_s", "p95_e2e_s"):
        assert all(isinstance(v, str) for v in table[column]), table[column].tolist()
    unit = numbers.unit_for(worst)
    shown = table.set_index("group_id")["time_lag_s"]
    for group, seconds in worst.dropna().items():
        assert shown[group] == f"{numbers.in_unit(seconds, unit):,.1f}", (group, seconds, unit)


def test_redeliveries_numbers_and_group_link(app, shown) -> None:
    by_group = _counts("REDELIVERY")
    worst = max(by_group, key=by_group.get)
    at = _page(app, "views/redeliveries.py", group=worst)
    assert shown.metrics(at)["Redelivered records"] == f"{sum(by_group.values()):,}"
    assert at.selectbox(key="red_group").value == worst
    assert "processings** of" in shown.text(at), "the chosen record's processings are drawn"


def test_dead_letters_numbers_and_decoded_headers(app, shown) -> None:
    golden = [f for f in GOLDEN["findings"] if f["rule"] == "DEAD_LETTER"]
    at = _page(app, "views/dead_letters.py")
    assert shown.metrics(at)["Dead letters"] == str(sum(f["count"] for f in golden))
    assert shown.metrics(at)["Not recovered"] == str(sum(not f["evidence"]["origin_processed_later"] for f in golden))
    headers = at.dataframe[1].value
    assert len(headers) > 0 and {"header", "value"} <= set(headers.columns)
    chosen = at.selectbox(key="dl_record").value
    golden_of = next(f for f in golden if chosen.startswith(f["subject"] + "/"))
    assert golden_of["evidence"]["exception_class"] in shown.text(at) or \
        golden_of["evidence"]["exception_class"] in "".join(str(c.value) for c in at.code)


def test_idempotency_numbers(app, shown) -> None:
    violations = _counts("IDEMPOTENCY_VIOLATION")
    at = _page(app, "views/idempotency.py")
    assert shown.metrics(at)["Violations"] == str(sum(violations.values()))
    assert at.selectbox(key="idem_group").value == next(iter(violations))


def test_event_design_numbers(app, shown) -> None:
    commands = _counts("EVENT_AS_COMMAND")
    at = _page(app, "views/event_design.py", topic=next(iter(commands)))
    assert shown.metrics(at)["Named like commands"] == str(len(commands))
    assert shown.metrics(at)["Consumers calling back"] == str(len(_counts("CALLBACK_CHATTER")))
    assert at.selectbox(key="ed_topic").value == next(iter(commands))


def test_what_changed_compares_the_last_15_minutes_with_the_hour_before(app, shown, everything) -> None:
    from dashboard.changes import what_changed

    cur, window = everything
    ch = what_changed(cur, window.end)
    at = _page(app, "views/changes.py")
    m = shown.metrics(at)
    assert m["New or worse findings"] == str(len(ch.new_findings))
    assert m["Messages behind"] == f"{int(ch.lag['lag_now'].fillna(0).sum()):,}"
    # The sample's lagging group is behind now, and more than it was before.
    lagging = next(iter(_counts("CONSUMER_LAG")))
    row = ch.lag.set_index("group").loc[lagging]
    assert row["lag_now"] > (0 if pd.isna(row["lag_before"]) else row["lag_before"])
    for f in ch.new_findings[:20]:
        assert f.summary in shown.text(at)


def test_a_finding_link_opens_that_finding(app, shown) -> None:
    golden = next(f for f in GOLDEN["findings"] if f["rule"] == "IDEMPOTENCY_VIOLATION")
    key = f"{golden['rule']}:{golden['subject']}"
    at = _page(app, "views/findings.py", finding=key)
    assert at.selectbox(key="find_key").value == key
    assert f"**{golden['rule']}** on {golden['subject_kind']} **{golden['subject']}**" in shown.text(at)
