"""The Dead letters page's Redrive button: only with --allow-redrive, and only after a confirmation
that shows the count; replays already made are listed with their outcome."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from collectors.kafka.config import KafkaSettings
from collectors.kafka.redrive_ledger import Ledger, RecordId
from collectors.store import shared
from dashboard.ui import redrive
from tests.support.apptest import app_over
from tests.support.markdown import as_read

DLT = "shop.orders.DLT"


@pytest.fixture
def dead_letters(data, store):
    """Three dead letters of shop.orders, none recovered; the first already replayed and processed."""
    for n in range(3):
        data.record(DLT, 0, n, at=n, headers=[
            ("kafka_dlt-original-topic", "shop.orders"), ("kafka_dlt-original-partition", b"\0\0\0\1"),
            ("kafka_dlt-original-offset", n.to_bytes(8, "big")),
            ("kafka_dlt-original-consumer-group", "billing"),
            ("kafka_dlt-exception-fqcn", "java.lang.IllegalStateException")])
    data.poll("billing", "shop.orders", 1, 9, at=30, high_watermark=9)
    data.write()
    ledger = Ledger(store, "test")
    ledger.record_intents([(RecordId(DLT, 0, 0), "shop.orders", "billing", 1, {1: 8})], "run")
    ledger.mark_done([(RecordId(DLT, 0, 0), 1, 8)])
    return store


def _page(at: AppTest) -> AppTest:
    at.query_params["range"] = "all"
    at.run()
    at.switch_page("views/dead_letters.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def test_no_button_without_allow_redrive(dead_letters, monkeypatch) -> None:
    with app_over(dead_letters.path, monkeypatch) as at:
        shared.register(dead_letters)  # the test's own open store, as `up` registers its store
        at = _page(at)
        assert not [b for b in _buttons(at) if "edrive" in b]
        # what was replayed is still shown, with its outcome
        table = next(d.value for d in at.dataframe if "outcome" in d.value.columns)
        assert table[["dead_letter", "replay", "outcome"]].values.tolist() == [
            [f"{DLT}/0/0", "shop.orders/1/8", "processed"]]


def test_button_asks_for_confirmation_with_the_count(dead_letters, monkeypatch) -> None:
    # a cluster nobody listens on: the test never confirms, so nothing is sent
    settings = KafkaSettings(bootstrap=["127.0.0.1:9"], cluster="test")
    with app_over(dead_letters.path, monkeypatch) as at:
        redrive.allow(dead_letters, settings)
        try:
            at = _page(at)
            # two left: the first one is replayed already
            ask = next(b for b in at.button if b.label.startswith("Redrive"))
            assert ask.label == "Redrive 2 dead letters…"
            ask.click().run()
            warning = " ".join(as_read(str(w.value)) for w in at.warning)
            assert f"Replay 2 dead letters (2 from {DLT}) to their origin topics?" in warning
            assert "Confirm: redrive 2" in _buttons(at)
            next(b for b in at.button if b.label == "Cancel").click().run()
            assert "Confirm: redrive 2" not in _buttons(at)
            assert "Redrive 2 dead letters…" in _buttons(at)
        finally:
            redrive.disallow(dead_letters)
