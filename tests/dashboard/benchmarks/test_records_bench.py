"""The Records search bench measures real work: every search but 'no match' finds records in its hour."""

from __future__ import annotations

from collectors.store import Store
from dashboard.benchmarks import records as bench
from dashboard.benchmarks.analyses import _template


def test_generated_store_holds_the_asked_records_and_each_search_finds_some(tmp_path):
    template = _template(tmp_path)
    with Store(tmp_path / "bench.duckdb") as store:
        n = bench.generate(store, records=30_000, template=template)
        assert 30_000 <= n < 32_000
        keys = store.cursor().execute('SELECT count(*) FROM records WHERE "key" = (SELECT min("key") FROM records)'
                                      ).fetchone()[0]
        assert keys < 10, "copies get their own keys, so a key search is selective"
        found = {name: matches for name, window, _, matches in bench.measure(store) if window == "1 h"}
    assert found.pop("no match") == 0
    assert all(m > 0 for m in found.values()), found
    assert found["key"] < found["topic"] < found["everything (newest 50)"]
