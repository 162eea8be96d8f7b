"""The Overview on a cluster's size (AppTest): past graph.MAX_DRAWN nodes it draws the worst and
busiest and says what it left out; a focus draws one node's neighbourhood, and follows the URL."""

from __future__ import annotations

import json

import pytest

from collectors.store import Store
from dashboard import graph
from tests.support.apptest import app_over, open_page
from tests.support.builders import Data
from tests.support.markdown import as_read

STARS = 30  # a producer service, its topic and the group reading it: 90 nodes


def _cluster(db) -> None:
    with Store(db) as store:
        data = Data(store)
        for i in range(STARS):
            topic = f"orders-{i:02d}"
            for n in range(1 + i % 4):
                t = data.trace_id()
                data.record(topic, 0, n, at=10 + i + n * 0.1, value={"orderId": f"o-{i}-{n}"})
                p = data.produce(t, f"svc-{i:02d}", topic, at=10 + i + n * 0.1, partition=0, offset=n)
                data.process(t, f"reader-{i:02d}", f"group-{i:02d}", topic, 0, n, at=10.5 + i + n * 0.1, parent=p)
        data.write()


def _boxes(app) -> list[str]:
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    return [a["text"] for a in spec["layout"]["annotations"] if a["text"].startswith("<b>")]


@pytest.mark.file_only
def test_a_large_graph_is_drawn_in_part_and_focus_draws_a_neighbourhood(tmp_path, monkeypatch) -> None:
    db = tmp_path / "cluster.duckdb"
    _cluster(db)
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/overview.py")
        captions = [c.value for c in app.caption]
        drawn = next(c for c in captions if c.startswith("Drawn: "))
        assert f"{graph.MAX_DRAWN} of 120" in drawn and "Not drawn: " in drawn, drawn
        assert len(_boxes(app)) == graph.MAX_DRAWN
        app.selectbox(key="ov_focus").set_value("topic:orders-07").run()
        assert not app.exception, [e.value for e in app.exception]
        assert app.query_params.get("focus") in ("topic:orders-07", ["topic:orders-07"])
        # the topic, its producer and its group (one step), the group's reader (two steps)
        assert sorted(b.split("</b>")[0].removeprefix("<b>") for b in _boxes(app)) == [
            "group-07", "orders-07", "reader-07", "svc-07"]
        assert "Drawn: topic orders-07 and what it calls, feeds or reads, 2 steps out, 4 of 120" in " ".join(
            as_read(c.value) for c in app.caption)


@pytest.mark.file_only
def test_event_design_links_a_failing_principles_first_subjects_and_counts_the_rest(tmp_path, monkeypatch) -> None:
    """30 topics whose events carry no id, time or version and no trace context: under each failing
    principle, 24 links and the other 6 counted."""
    from dashboard.views.event_design import FAILING_LINKS

    db = tmp_path / "cluster.duckdb"
    _cluster(db)
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/event_design.py")
        lists = [m.value for m in app.markdown if m.value.endswith(" fails on:")]
        assert len(lists) >= 2, lists
        linked = [p for p in app.get("page_link") if p.proto.page == "findings"]
        assert len(linked) == FAILING_LINKS * len(lists)
        more = [as_read(c.value) for c in app.caption if as_read(c.value).startswith("and ")]
        assert more == [f"and {STARS - FAILING_LINKS} more: each is a finding on the Findings page and in the list "
                        "below."] * len(lists), more


@pytest.mark.file_only
def test_findings_fold_a_warning_rule_of_many_subjects_into_one_row_and_list_them_when_it_is_chosen(
        tmp_path, monkeypatch) -> None:
    """30 topics without envelopes or trace context: each of those warning rules is one row of 30
    topics; chosen in the Rules filter, its 30 findings are listed; a link to one still opens it."""
    from dashboard.findings.noise import FOLD_WARNINGS_OVER

    assert STARS > FOLD_WARNINGS_OVER
    db = tmp_path / "cluster.duckdb"
    _cluster(db)
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/findings.py")
        table = next(d.value for d in app.dataframe if "rule" in d.value.columns)
        rows = table[table["rule"] == "ENVELOPE_MISSING"]
        assert rows["subject"].tolist() == [f"{STARS} topics"] and rows["severity"].tolist() == ["warning"]
        assert (table["rule"] == "MISSING_TRACE_CONTEXT").sum() == 1
        app.multiselect(key="find_rules").set_value(["ENVELOPE_MISSING"]).run()
        assert not app.exception
        table = next(d.value for d in app.dataframe if "rule" in d.value.columns)
        assert sorted(table["subject"]) == [f"orders-{i:02d}" for i in range(STARS)]
    with app_over(db, monkeypatch) as app:  # the folded row's evidence names what it stands for
        open_page(app, "views/findings.py", finding=f"ENVELOPE_MISSING:{STARS} topics")
        said = [as_read(m.value) for m in app.markdown]
        assert any(m.startswith(f"**ENVELOPE_MISSING** on **{STARS} topics** — warning") for m in said), said
        assert [p.proto.label for p in app.get("page_link") if p.proto.page == "event-design"] == [
            "Open Event design"]
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/findings.py", finding="ENVELOPE_MISSING:orders-07")
        assert not app.exception
        said = [as_read(m.value) for m in app.markdown]
        assert any(m.startswith("**ENVELOPE_MISSING** on topic **orders-07**") for m in said), said


@pytest.mark.file_only
def test_the_worst_cards_fold_an_error_rule_of_very_many_groups_so_another_error_shows(tmp_path, monkeypatch) -> None:
    """45 groups that stopped committing are one CONSUMER_LAG card ("on 45 groups"), and the dead
    letters' error is the next card, not pushed off by two more stopped groups."""
    from dashboard.findings.noise import FOLD_ERRORS_OVER

    groups = FOLD_ERRORS_OVER + 5
    db = tmp_path / "stopped.duckdb"
    with Store(db) as store:
        data = Data(store)
        data.stopped_groups(groups)
        data.write()
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/overview.py", range="all")
        assert not app.exception, [e.value for e in app.exception]
        cards = [as_read(m.value) for m in app.markdown if m.value.startswith("**ERROR")]
        assert len(cards) == 2, cards
        assert cards[0].startswith(f"**ERROR · CONSUMER_LAG** on **{groups} groups** — {groups} groups, such as: "), cards
        assert cards[1].startswith("**ERROR · DEAD_LETTER** on topic **fleet.pings.DLT**"), cards
    with app_over(db, monkeypatch) as app:  # What changed: every finding is new there, the groups one card
        open_page(app, "views/changes.py", range="all")
        assert not app.exception, [e.value for e in app.exception]
        cards = [as_read(m.value) for m in app.markdown if m.value.startswith("**ERROR")]
        assert cards[0].startswith(f"**ERROR · CONSUMER_LAG** on **{groups} groups** — "), cards
