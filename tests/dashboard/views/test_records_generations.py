"""The Records page at a position of a topic deleted and created again (AppTest): it says so,
opens the newest topic's record and offers the older one, each with its own processings."""

from __future__ import annotations

import pytest

from collectors.store import Store
from tests.dashboard.analyses.test_topic_generations import (
    TOPIC,
    created_again,
    generation_rows,
    replayed,
    twice_in_each,
)
from tests.dashboard.views.conftest import page_text
from tests.support.apptest import app_over, open_page
from tests.support.builders import Data


def _instances(app) -> list[str]:
    frames = [d.value for d in app.dataframe if "instance" in d.value.columns]
    assert len(frames) == 1, [list(d.value.columns) for d in app.dataframe]
    return list(frames[0]["instance"])


@pytest.mark.file_only  # a store of its own, built here and then read by the page
def test_a_position_of_a_topic_created_again_offers_the_record_of_each(tmp_path, monkeypatch) -> None:
    db = tmp_path / "created-again.duckdb"
    with Store(db) as store:
        data = Data(store)
        store.append({"topic_generations": generation_rows(data, created_again(data))})
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/records.py", record=f"{TOPIC}/0/1")
        assert "This position holds 2 records" in page_text(app)
        assert _instances(app) == ["ledger-b"]  # the new topic's offset 1, processed once
        app.selectbox(key="rec_gen").set_value("1").run()
        assert not app.exception
        assert _instances(app) == ["ledger-a", "ledger-b"]  # the old one's, processed twice
        assert app.query_params.get("generation") in ("1", ["1"])


@pytest.mark.file_only
def test_the_evidence_pages_show_each_generations_record_and_customer(tmp_path, monkeypatch) -> None:
    """Offset 0 processed twice in each generation: the Redeliveries and Idempotency drill-downs offer
    both, and each shows its own processings, its own customer and a link to its own record."""
    db = tmp_path / "twice-in-each.duckdb"
    with Store(db) as store:
        twice_in_each(Data(store), store)
    new = f"{TOPIC}/0/0 (topic created again 2026-03-02 12:03:20)"
    for page, key in (("views/redeliveries.py", "red_record"), ("views/idempotency.py", "idem_msg")):
        with app_over(db, monkeypatch) as app:
            open_page(app, page, group="ledger-writer")
            shown = app.selectbox(key=key).options  # (as labelled)
            assert len(shown) == 2 and sum("topic created again 2026-03-02 12:03:20" in o for o in shown) == 1, shown
            for choice, customer, other, generation in ((f"{TOPIC}/0/0", "acc-old", "acc-new", "1"),
                                                        (new, "acc-new", "acc-old", None)):
                app.selectbox(key=key).set_value(choice).run()
                assert not app.exception, (page, choice)
                text = page_text(app)
                assert customer in text and other not in text, (page, choice, text)
                opens = [link for link in app.get("page_link") if "Open the record" in link.proto.label]
                assert len(opens) == 1, (page, choice)
                assert dict(opens[0].proto.query_string and _query(opens[0].proto.query_string)).get(
                    "generation") == generation, (page, choice, opens[0].proto.query_string)
                if page == "views/idempotency.py":  # the evidence table's record links too
                    table = next(d.value for d in app.dataframe if "record" in d.value.columns)
                    assert {dict(_query(h.partition("?")[2])).get("generation") for h in table["record"]} == {
                        generation}, table["record"].tolist()


@pytest.mark.file_only
def test_an_event_published_in_each_generation_links_each_copy_to_its_own_record(tmp_path, monkeypatch) -> None:
    """c-1 replayed at its old offset, c-2 at another: the Redeliveries table's first copy of each is
    the old topic's record, and each copy's Records page links the other copy's own record."""
    db = tmp_path / "replayed.duckdb"
    with Store(db) as store:
        replayed(Data(store), store)
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/redeliveries.py")
        assert not app.exception
        table = next(d.value for d in app.dataframe if "event_id" in d.value.columns)
        first = {e: dict(_query(h.partition("?")[2])) for e, h in zip(table["event_id"], table["record"], strict=True)}
        assert {e: (q["record"], q.get("generation")) for e, q in first.items()} == {
            "c-1": (f"{TOPIC}/0/0", "1"), "c-2": (f"{TOPIC}/0/1", "1")}
    for generation, other in (("1", None), (None, "1")):  # the old topic's c-1, then the new one's
        with app_over(db, monkeypatch) as app:
            open_page(app, "views/records.py", record=f"{TOPIC}/0/0", **({"generation": generation} if generation else {}))
            assert not app.exception
            again = next(d.value for d in app.dataframe if "kind" in d.value.columns and "key" in d.value.columns)
            assert again["kind"].tolist() == ["published again"]
            links = [dict(_query(h.partition("?")[2])) for h in again["record"]]
            assert [(q["record"], q.get("generation")) for q in links] == [(f"{TOPIC}/0/0", other)], generation


def _query(qs: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(qs)
