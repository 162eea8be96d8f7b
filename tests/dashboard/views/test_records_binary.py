"""The Records page over what production topics hold besides JSON: a key that is not UTF-8 and
a compacted topic's tombstone (AppTest). A person reads the key's bytes and the tombstone as one,
not their stored forms."""

from __future__ import annotations

import pytest

from collectors.normalize.records import record_row
from collectors.store import Store
from tests.dashboard.views.conftest import page_text
from tests.support.apptest import app_over, open_page
from tests.support.builders import Data, us


@pytest.mark.file_only  # a store of its own, built here and then read by the page
def test_a_binary_key_reads_as_bytes_and_a_tombstone_as_one(tmp_path, monkeypatch) -> None:
    db = tmp_path / "drivers.duckdb"
    with Store(db) as store:
        data = Data(store)
        data.record("rides.drivers", 0, 4, at=1, key="drv-2", value=None)  # drv-2 deleted
        data.records.append(record_row(
            cluster="test", topic="rides.drivers", partition=0, offset=5, key=b"\xff\xfe\x00bin",
            value=b"\xff\xfe garbage", headers=[], timestamp_ms=us(2) // 1000, timestamp_type=1,
            tapped_at_us=us(2), source="test"))
        data.write()
    with app_over(db, monkeypatch) as app:
        open_page(app, "views/records.py", topic="rides.drivers")
        found = next(d.value for d in app.dataframe if "value_preview" in d.value.columns).set_index("offset")
        assert found.loc[4, "value_preview"] == "(null: a tombstone)"
        open_page(app, "views/records.py", record="rides.drivers/0/5")
        assert "**Key** `6 bytes (hex) ff fe 00 62 69 6e`" in page_text(app)
        assert "Value (binary value, shown as base64)" in page_text(app).replace("**", "")
        assert app.code[0].value == "//4gZ2FyYmFnZQ=="
