"""duplicated_processings: the rows of the duplicate deliveries, copied at derive time (and by
migration 014 for a store derived before), give the idempotency page what every processing did."""

from __future__ import annotations

from datetime import timedelta

from collectors.store import Store
from dashboard.analyses import idempotency as idem
from dashboard.analyses.processings import over_processings, params
from dashboard.analyses.window import Window
from tests.support.builders import Data

# the processings rows whose delivery is a duplicate delivery, as the pages' candidates name them
_EXPECTED = """
SELECT trace_id, span_id, effects FROM processings
WHERE hash(grp, topic, "partition", "offset") IN (SELECT hash(grp, topic, "partition", "offset") FROM duplicate_deliveries)
ORDER BY ALL
"""
_COPIED = "SELECT trace_id, span_id, effects FROM duplicated_processings ORDER BY ALL"


def _copied_and_expected(store: Store) -> tuple[list, list]:
    cur = store.cursor()
    return cur.execute(_COPIED).fetchall(), cur.execute(_EXPECTED).fetchall()


def _sorted_rows(cur, sql: str, window: Window, group: str | None) -> list[tuple]:
    table = cur.sql(sql, params=params(window, grp=group)).to_arrow_table()
    return sorted(tuple(repr(v) for v in row.values()) for row in table.to_pylist())


def test_the_sample_shops_duplicates_read_from_the_copy_equal_those_read_from_every_processing(golden_shop) -> None:
    # the same query over every processing row (the copy left out): what the page read before
    every_row = over_processings(idem._DUPS_BODY, also=idem._REPUBLISHED)
    with Store(golden_shop.db, read_only=True) as store:
        copied, expected = _copied_and_expected(store)
        assert copied == expected and copied
        cur = store.cursor()
        everything = Window.everything(cur)
        windows = [everything, Window(everything.end - timedelta(hours=1), everything.end),
                   Window(everything.start + timedelta(minutes=5), everything.start + timedelta(minutes=12))]
        groups = [None, *sorted({r[0] for r in cur.execute("SELECT grp FROM duplicated_processings").fetchall()})]
        for window in windows:
            for group in groups:
                new = _sorted_rows(cur, idem._DUPS, window, group)
                assert new == _sorted_rows(cur, every_row, window, group), (window, group)
        assert _sorted_rows(cur, idem._DUPS, everything, None)  # the shop's incidents have duplicates


def _delivery(data: Data, trace: str, at: float, instance: str) -> str:
    p = data.process(trace, "invoicing-service", "invoicing", "shop.orders", 0, 7, at=at, instance=instance)
    data.span(trace, "invoicing-service", "client", "INSERT invoices", at=at + 0.1, parent=p,
              attrs={"db.system": "postgresql", "db.operation.name": "INSERT"})
    return p


def test_the_copy_follows_a_redelivery_a_late_span_and_an_old_store(store_location: str, window: Window) -> None:
    with Store(store_location) as store:
        data = Data(store)
        first = data.trace_id()
        _delivery(data, first, 1, "inv-0")
        data.process(first, "email-service", "email", "shop.orders", 0, 7, at=2)  # once: never copied
        data.write()
        assert _copied_and_expected(store) == ([], [])

        # the redelivery, in a later trace, makes the first delivery's row a duplicated one too
        second = data.trace_id()
        _delivery(data, second, 60, "inv-1")
        data.write()
        copied, expected = _copied_and_expected(store)
        assert copied == expected and {r[0] for r in copied} == {first, second}
        assert len(copied) == 2

        # a late span derives the first trace again: its rows are replaced, never doubled
        data.span(first, "invoicing-service", "internal", "late", at=1.5)
        data.write()
        assert _copied_and_expected(store) == (copied, expected)
        dup = idem.duplicates(store.cursor(), window)
        assert dup[["group", "verdict", "processings", "effectful"]].values.tolist() == [["invoicing", "violation",
                                                                                          2, 2]]

        # a store derived before migration 014: reopening it copies what it already knows
        cur = store.cursor()
        cur.execute("DROP TABLE duplicated_processings")
        cur.execute("DELETE FROM schema_version WHERE version = 14")
    with Store(store_location) as store:
        assert _copied_and_expected(store) == (copied, expected)
        assert idem.duplicates(store.cursor(), window)[["group", "verdict"]].values.tolist() == [
            ["invoicing", "violation"]]

