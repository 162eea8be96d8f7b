"""The Records page at a position of a topic deleted and created again (AppTest): it says so,
opens the newest topic's record and offers the older one, each with its own processings."""

from __future__ import annotations

import pytest

from collectors.store import Store
from tests.dashboard.analyses.test_topic_generations import TOPIC, created_again, generation_rows
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
