"""A long derivation (an upgraded store's re-derivation, an import's) says how far it got and how long is left."""

from __future__ import annotations

import io
import logging
import re

from collectors.derive import pending
from collectors.progress import derive_showing_progress, eta
from tests.support.builders import Data


def test_the_time_left_is_read_from_the_rate_so_far() -> None:
    assert eta(0, 100, 5.0) == ""
    assert eta(25, 100, 10.0) == "about 30 s left"
    assert eta(10, 100, 10.0) == "about 1 min 30 s left"
    assert eta(100, 100, 10.0) == "about 0 s left"


def test_a_derivation_of_many_calls_prints_its_progress_and_time_left(store) -> None:
    data = Data(store)
    for i in range(6):
        t = data.trace_id()
        send = data.produce(t, "orders-api", "shop.orders", at=i)
        data.process(t, "billing-service", "billing", "shop.orders", 0, i, at=i + 0.5, parent=send)
    data.write(derived=False)
    assert pending(store.cursor()).traces == 6
    out = io.StringIO()
    done = derive_showing_progress(store, what="deriving again", out=out, every=0, max_traces=2)
    assert done.traces == 6 and pending(store.cursor()).traces == 0
    lines = out.getvalue().splitlines()
    assert [re.sub(r"\(.*\), about .* left", "", line) for line in lines] == [
        "deriving again: 2 of 6 traces ", "deriving again: 4 of 6 traces "]
    assert all(re.search(r"\([\d,]+/s\), about (\d+ min )?\d+ s left$", line) for line in lines)


def test_a_short_derivation_prints_nothing(store) -> None:
    data = Data(store)
    t = data.trace_id()
    data.produce(t, "orders-api", "shop.orders", at=0)
    data.write(derived=False)
    out = io.StringIO()
    assert derive_showing_progress(store, out=out).traces == 1
    assert out.getvalue() == ""


def test_the_collectors_deriver_says_a_backlog_once_a_minute_with_the_time_left(store, caplog) -> None:
    from collectors.derive.component import Deriver

    deriver = Deriver(store, every=5.0)  # not started: its passes are played by hand
    with caplog.at_level(logging.WARNING, logger="collectors.derive.component"):
        deriver._say_backlog(20_000, 50_000, 5.0)  # a pass of 5 s, then a wait of 5 s
        deriver._say_backlog(20_000, 30_000, 5.0)  # within the minute: not repeated
        deriver._say_backlog(300, 100, 0.1)  # no backlog
    assert [r.getMessage() for r in caplog.records] == [
        "50,000 traces wait to be derived (4,000/s while deriving; about 25 s left)"]
