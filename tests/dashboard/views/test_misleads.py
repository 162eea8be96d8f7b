"""What misled a user on the pages (issue 13, item 5), each reproduced over the sample store."""

from __future__ import annotations

import re
import shlex
from datetime import timedelta

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from collectors.store import Store
from dashboard.cli import cli
from dashboard.findings import engine
from tests.support.apptest import open_page
from tests.support.golden import load_golden
from tests.support.markdown import as_read

GOLDEN = load_golden()


def _warnings(at: AppTest) -> str:
    return "\n".join(as_read(str(w.value)) for w in [*at.warning, *at.sidebar.warning])


# What changed ------------------------------------------------------------------------------


def test_what_changed_ends_at_the_newest_data_and_keeps_open_findings_open(everything) -> None:
    """A capture whose collectors stopped 30 minutes ago: the periods end at its newest data."""
    from dashboard.changes import what_changed

    cur, span = everything
    late = span.end + timedelta(minutes=30)
    ch = what_changed(cur, late)
    assert ch.recent.end == span.end and ch.moved_from == late
    assert ch.has_data == (True, True)
    lagging = {f["subject"] for f in GOLDEN["findings"]
               if f["rule"] == "CONSUMER_LAG" and f["last_seen_s"] == GOLDEN["duration_s"]}
    assert ch.lag.set_index("group").loc[sorted(lagging), "lag_now"].min() > 0, "the lag is still there"
    # the findings still open at the end of the data are not "gone quiet"
    open_now = {(f.rule, f.subject) for f in engine.run(cur, ch.recent)}
    assert not {(f.rule, f.subject) for f in ch.resolved} & open_now
    assert {("CONSUMER_LAG", g) for g in lagging} <= open_now
    assert not [f for f in ch.resolved if f.rule == "CONSUMER_LAG" and f.subject in lagging]
    # errors the data does not show resolved stay open: the non-idempotent consumer, an unrecovered dead letter
    assert not [f for f in ch.resolved if f.rule in ("IDEMPOTENCY_VIOLATION", "DEAD_LETTER")]


def test_what_changed_without_data_says_so_and_shows_no_deltas(app: AppTest) -> None:
    at = open_page(app, "views/changes.py", range="custom", **{"from": "2001-01-01T00:00", "to": "2001-01-02T00:00"})
    assert "No data in the last 15 minutes" in _warnings(at)
    deltas = {m.label: m.proto.delta for m in at.metric}
    assert deltas == {"New or worse findings": "", "Messages behind": "", "Dead letters per minute": "",
                      "Redelivery rate": ""}
    assert "Gone quiet" not in [s.value for s in at.subheader]


def test_what_changed_without_an_hour_before_shows_no_deltas(app: AppTest, everything) -> None:
    _, span = everything
    start, end = span.start.replace(second=0, microsecond=0), span.start + timedelta(minutes=10)
    at = open_page(app, "views/changes.py", range="custom", **{"from": start.strftime("%Y-%m-%dT%H:%M"),
                                                           "to": end.strftime("%Y-%m-%dT%H:%M")})
    assert "holds no data: there is nothing to compare" in _warnings(at)
    assert all(m.proto.delta == "" for m in at.metric)
    # nothing was seen in an hour without data, so nothing went quiet (every declared edge was
    # "unobserved" there, and listed as gone quiet)
    assert "Gone quiet" not in [s.value for s in at.subheader]


def test_a_change_of_zero_is_neither_red_nor_green() -> None:
    from dashboard.ui.numbers import delta

    assert delta(0) == ("±0", "off")
    assert delta(-616) == ("-616", "inverse")
    assert delta(None) == (None, "off")


def test_what_changed_lag_table_has_no_none_cells(app: AppTest) -> None:
    at = open_page(app, "views/changes.py")
    table = next(d.value for d in at.dataframe if "delta" in d.value.columns)
    cells = table.astype(str).to_numpy().ravel().tolist()
    assert not {"None", "nan", "NaN", "<NA>"} & set(cells)
    assert all(re.fullmatch(r"[+−]?[\d,]+|0|–", c) for c in table["delta"]), table["delta"].tolist()


# Dead letters ------------------------------------------------------------------------------


def test_dead_letters_honour_topic_over_a_stale_record(app: AppTest) -> None:
    """The link of issue 13: topic=shop.orders.DLT with a record of another topic in the URL."""
    at = open_page(app, "views/dead_letters.py", topic="shop.orders.DLT", record="warehouse-sink-dlq/0/0")
    assert at.selectbox(key="dl_topic").value == "shop.orders.DLT"
    chosen = at.selectbox(key="dl_record").value
    assert chosen.startswith("shop.orders.DLT/"), chosen
    assert "record “warehouse-sink-dlq/0/0”, which is not among the choices" in _warnings(at)
    golden = next(f for f in GOLDEN["findings"] if f["rule"] == "DEAD_LETTER" and f["subject"] == "shop.orders.DLT")
    assert at.metric[0].value == f"{golden['count']:,}", "the counts are the topic's"
    chart = at.get("plotly_chart")[0].proto.spec
    assert "shop.orders" in chart and "shop.payments" not in chart, "the chart is the topic's too"


def test_dead_letter_headers_are_decoded(app: AppTest) -> None:
    at = open_page(app, "views/dead_letters.py", topic="shop.orders.DLT")
    headers = next(d.value for d in at.dataframe if "header" in d.value.columns).set_index("header")["value"]
    assert re.fullmatch(r"\d+", headers["kafka_dlt-original-partition"])
    assert re.fullmatch(r"\d+", headers["kafka_dlt-original-offset"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \(\d+ ms\)", headers["kafka_dlt-original-timestamp"])


# Findings ----------------------------------------------------------------------------------


def test_clicking_a_findings_row_opens_that_finding(app: AppTest) -> None:
    at = open_page(app, "views/findings.py")
    table = at.dataframe[0].value
    row = 2
    at.session_state["find_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    key = f"{table['rule'].iloc[row]}:{table['subject'].iloc[row]}"
    assert at.selectbox(key="find_key").value == key
    assert at.query_params.get("finding") in (key, [key])


def test_evidence_reads_as_tables_not_json(app: AppTest) -> None:
    golden = next(f for f in GOLDEN["findings"] if f["rule"] == "IDEMPOTENCY_VIOLATION")
    at = open_page(app, "views/findings.py", finding=f"{golden['rule']}:{golden['subject']}")
    assert not at.get("json"), "no raw JSON tree"
    titles = [str(m.value) for m in at.markdown]
    assert "**Facts**" in titles
    facts = next(d.value for d in at.dataframe if list(d.value.columns) == ["Field", "Value"])
    assert "None" not in facts["Value"].tolist() and len(facts) > 0


def test_findings_page_names_its_window_and_the_cli_lists_the_same(app: AppTest, sample_db) -> None:
    at = open_page(app, "views/findings.py")
    said = next(str(m.value) for m in at.markdown if "seamwatch findings" in str(m.value))
    command = shlex.split(re.search(r"`(seamwatch findings [^`]+)`", said).group(1))
    assert command[command.index("--db") + 1] == str(sample_db)  # a lake's spaces quoted
    result = CliRunner().invoke(cli, ["findings", "--json", *command[2:]], catch_exceptions=False)
    import json

    doc = json.loads(result.output)
    by_sev = {s: sum(f["severity"] == s for f in doc["findings"]) for s in ("critical", "error", "warning", "info")}
    assert {m.label: m.value for m in at.metric if m.label.lower() in by_sev} == \
        {s.capitalize(): f"{n:,}" for s, n in by_sev.items()}


# Deep links --------------------------------------------------------------------------------


def test_an_unknown_page_says_so(app: AppTest) -> None:
    app.query_params["page"] = "no-such-page"
    at = app.run()
    assert not at.exception
    assert "page “no-such-page”, which does not exist; showing Overview" in _warnings(at)


def test_an_unknown_range_says_so(app: AppTest) -> None:
    app.query_params["range"] = "2h"
    at = app.run()
    assert not at.exception
    assert "time range “2h”, which does not exist" in _warnings(at)


def test_an_unknown_finding_says_so(app: AppTest) -> None:
    at = open_page(app, "views/findings.py", finding="NO_SUCH_RULE:nobody")
    assert "finding “NO_SUCH_RULE:nobody”, which is not among the choices" in _warnings(at)


# Choices follow the user -------------------------------------------------------------------


def _nav(at: AppTest, path: str) -> AppTest:
    """A click in the sidebar menu: the browser drops the page's own params (the frame writes
    the range back); AppTest would keep them, so they go here."""
    for k in [k for k in at.query_params if k not in ("range", "from", "to", "cluster")]:
        del at.query_params[k]
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_chosen_group_follows_to_other_pages(app: AppTest) -> None:
    at = open_page(app, "views/redeliveries.py")
    groups = at.selectbox(key="red_group").options
    other = next(g for g in groups if g != at.selectbox(key="red_group").value)
    at.selectbox(key="red_group").set_value(other).run()
    _nav(at, "views/idempotency.py")
    if other in at.selectbox(key="idem_group").options:
        assert at.selectbox(key="idem_group").value == other
    _nav(at, "views/lag.py")
    if other in at.selectbox(key="lag_group").options:
        assert at.selectbox(key="lag_group").value == other
    _nav(at, "views/redeliveries.py")
    assert at.selectbox(key="red_group").value == other
    assert at.sidebar.radio(key="range").value == "all", "the range follows too"


def test_the_chosen_topic_follows_to_other_pages(app: AppTest) -> None:
    at = open_page(app, "views/dead_letters.py", topic="shop.orders")
    _nav(at, "views/event_design.py")
    assert at.selectbox(key="ed_topic").value == "shop.orders"


# Numbers -----------------------------------------------------------------------------------


def test_plurals_and_thousands() -> None:
    from dashboard.findings.model import either, plural, times

    assert plural(1, "record") == "1 record"
    assert plural(12_500, "record") == "12,500 records"
    assert either(["id"]) == "an id"
    assert either(["id", "time", "version"]) == "an id, a time or a version"
    assert (times(1), times(2), times(1200)) == ("once", "twice", "1,200 times")


def test_the_event_design_page_says_an_id(app: AppTest) -> None:
    at = open_page(app, "views/event_design.py", topic="shop.loyalty")
    said = "\n".join(as_read(str(m.value)) for m in at.markdown)
    assert " lack a id" not in said and "lack an id" in said, said


def test_the_event_design_page_shows_a_findings_evidence_as_tables_not_python(app: AppTest) -> None:
    """ENVELOPE_MISSING's evidence nests maps (per event type, what is missing): it read as
    "missing: {'missing_id': 4, …}" under the design findings."""
    at = open_page(app, "views/event_design.py", finding="ENVELOPE_MISSING:shop.loyalty")
    said = "\n".join([*(as_read(str(m.value)) for m in at.markdown),
                      *(t.value.to_string() for t in at.table)])
    assert "{'" not in said and "['" not in said, said
    shown = [t.value for t in at.table if t.value.index.name == "Event type"]
    assert len(shown) == 1 and list(shown[0].columns) == ["Records", "Missing", "Sample"], [t.value for t in at.table]


def test_info_findings_never_crowd_out_warnings() -> None:
    """111 info UNDECLARED_EDGE of stale groups beside 9 warnings: 10 rows, warnings first."""
    from dashboard.findings.model import Finding
    from dashboard.findings.noise import fold, is_folded

    def f(rule: str, sev: str, subject: str) -> Finding:
        return Finding(rule, sev, "edge" if sev == "info" else "group", subject, 1, None, None, "seen", "fix")

    found = [f("REDELIVERY", "warning", f"g{i}") for i in range(9)] + \
            [f("UNDECLARED_EDGE", "info", f"old-{i} → t") for i in range(111)]
    shown = fold(found)
    assert [x.severity for x in shown] == ["warning"] * 9 + ["info"]
    assert is_folded(shown[-1]) and shown[-1].subject == "111 edges" and shown[-1].count == 111
    assert len(shown[-1].evidence["findings"]) == 111


def test_a_warning_rule_of_many_subjects_is_one_row_where_it_stood_and_a_few_errors_are_never_folded() -> None:
    """13 ENVELOPE_MISSING warnings after an error, 13 DEAD_LETTER errors and 2 REDELIVERY warnings:
    the errors and the two warnings stay rows, the 13 warnings become one where the first stood."""
    from dashboard.findings.model import Finding
    from dashboard.findings.noise import FOLD_WARNINGS_OVER, fold, is_folded

    def f(rule: str, sev: str, subject: str) -> Finding:
        return Finding(rule, sev, "topic", subject, 2, None, None, "seen", "fix")

    many = FOLD_WARNINGS_OVER + 1
    found = [f("EVENT_ID_COLLISION", "error", "a"), *(f("ENVELOPE_MISSING", "warning", f"t{i}") for i in range(many)),
             *(f("DEAD_LETTER", "error", f"t{i}.DLT") for i in range(many)), f("REDELIVERY", "warning", "g1"),
             f("REDELIVERY", "warning", "g2")]
    shown = fold(found)
    assert [(x.rule, x.subject) for x in shown] == [
        ("EVENT_ID_COLLISION", "a"), ("ENVELOPE_MISSING", f"{many} topics"),
        *(("DEAD_LETTER", f"t{i}.DLT") for i in range(many)), ("REDELIVERY", "g1"), ("REDELIVERY", "g2")]
    assert is_folded(shown[1]) and shown[1].severity == "warning" and shown[1].count == 2 * many
    assert [x.subject for x in fold(found, warnings=False)] == [x.subject for x in found]


def test_an_error_rule_of_very_many_subjects_is_one_row_and_criticals_never_fold() -> None:
    """240 stopped groups are 240 CONSUMER_LAG errors: one row where the first stood, with every group in
    its evidence, so the one DEAD_LETTER error after them is on the page; criticals stay rows."""
    from dashboard.findings.model import Finding
    from dashboard.findings.noise import FOLD_ERRORS_OVER, fold, is_folded

    def f(rule: str, sev: str, subject: str, count: int = 7600) -> Finding:
        return Finding(rule, sev, "group", subject, count, None, None, "stopped", "restart it")

    stopped = [f("CONSUMER_LAG", "error", f"dispatch-{i:03}") for i in range(240)]
    crit = [f("PUBLISH_BEFORE_COMMIT", "critical", f"svc-{i}", 1) for i in range(FOLD_ERRORS_OVER + 1)]
    found = [*crit, *stopped, f("DEAD_LETTER", "error", "orders.DLT", 3)]
    shown = fold(found)
    assert [x.subject for x in shown[:len(crit)]] == [x.subject for x in crit]
    folded = shown[len(crit)]
    assert is_folded(folded) and folded.severity == "error" and folded.subject == "240 groups"
    assert folded.count == 240 * 7600 and folded.count_unit == stopped[0].count_unit
    assert [e["subject"] for e in folded.evidence["findings"]] == [x.subject for x in stopped]
    assert [x.subject for x in shown[len(crit) + 1:]] == ["orders.DLT"]
    assert len(fold(stopped[:FOLD_ERRORS_OVER])) == FOLD_ERRORS_OVER  # up to the threshold, each is a row


# Several Kafka clusters --------------------------------------------------------------------


@pytest.fixture
def two_clusters(sample_db, tmp_path, monkeypatch):
    """The sample (cluster "sample") plus its payments topic tapped again from a "staging" cluster."""
    import shutil

    from tests.support.apptest import app_over

    db = tmp_path / "two.duckdb"
    shutil.copy(sample_db, db)
    with Store(db) as store:
        store.con.execute("INSERT INTO records SELECT * REPLACE ('staging' AS cluster) FROM records "
                          "WHERE topic = 'shop.payments'")
        staging = store.con.execute("SELECT count(*) FROM records WHERE cluster = 'staging'").fetchone()[0]
        sample = store.con.execute("SELECT count(*) FROM records WHERE cluster = 'sample'").fetchone()[0]
    with app_over(db, monkeypatch) as at:
        yield at, {"sample": sample, "staging": staging}


@pytest.mark.file_only  # a writable copy of the sample: a file copied
def test_the_sidebar_offers_the_clusters_and_every_page_shows_the_chosen_one(two_clusters) -> None:
    at, counts = two_clusters
    at.query_params["range"] = "all"
    at.run()
    assert not at.exception
    choice = at.sidebar.selectbox(key="cluster")
    assert choice.options == ["sample", "staging"] and choice.value == "sample"
    assert {m.label: m.value for m in at.metric}["Kafka records"] == f"{counts['sample']:,}"
    choice.set_value("staging").run()
    assert {m.label: m.value for m in at.metric}["Kafka records"] == f"{counts['staging']:,}"
    assert at.query_params.get("cluster") in ("staging", ["staging"])
    _nav(at, "views/dead_letters.py")
    assert at.metric[0].value == "0", "staging holds no dead letters"
    _nav(at, "views/overview.py")
    assert at.sidebar.selectbox(key="cluster").value == "staging", "the choice holds across pages"


@pytest.mark.file_only  # a writable copy of the sample: a file copied
def test_a_link_naming_an_unknown_cluster_says_so(two_clusters) -> None:
    at, _ = two_clusters
    at.query_params["cluster"] = "prod"
    at.run()
    assert not at.exception
    assert "Kafka cluster “prod”, which this store does not hold" in _warnings(at)
    assert at.sidebar.selectbox(key="cluster").value == "sample"


@pytest.mark.file_only  # a writable copy of the sample: a file copied
def test_a_cluster_link_selects_it(two_clusters) -> None:
    at, counts = two_clusters
    at.query_params.update({"cluster": "staging", "range": "all"})
    at.run()
    assert at.sidebar.selectbox(key="cluster").value == "staging"
    assert {m.label: m.value for m in at.metric}["Kafka records"] == f"{counts['staging']:,}"


def test_overview_counts_warnings_and_worse_and_puts_info_aside(app: AppTest, everything) -> None:
    cur, span = everything
    found = engine.run(cur, span)
    serious = sum(f.severity != "info" for f in found)
    info = len(found) - serious
    assert info and serious, "the sample has both"
    at = open_page(app, "views/overview.py")
    assert {m.label: m.value for m in at.metric}["Open findings"] == f"{serious:,}"
    assert any(f"Also {info:,} info finding" in str(c.value) for c in at.caption)
