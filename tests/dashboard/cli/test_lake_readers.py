"""Readers of a lake (`seamwatch dashboard`, `seamwatch findings`, the pages) never write it, and
say in one sentence why they cannot read it (docs/architecture.md#the-lake).

The catalog's newest snapshot id is the witness: every commit to a DuckLake, a migration, a
derived row, a lease taken, makes a new snapshot.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from collectors.store import Store
from collectors.store.db import connect_memory
from collectors.store.lake import attach
from collectors.store.migrate import LATEST, MIGRATIONS
from dashboard.cli import cli
from dashboard.cli import serve as serve_module
from tests.support.apptest import app_over, open_page
from tests.support.builders import Data
from tests.support.markdown import as_read

pytestmark = pytest.mark.lake
PREVIOUS = MIGRATIONS[-2][0]  # the version before this Seamwatch's


def snapshot_id(location: str) -> int:
    """The lake's newest snapshot, read through a read-only attachment (which makes none)."""
    con = connect_memory()
    try:
        attach(con, location, read_only=True)
        return int(con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('store')").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def lake_with_pending(new_lake) -> str:
    """A lake holding a request and its Kafka record, the trace not derived yet (as when the
    deriving collector has not reached it)."""
    location = new_lake()
    with Store(location) as store:
        data = Data(store)
        t = data.trace_id()
        p = data.call(t, "checkout", "payments", "POST /pay", at=1, parent=None)
        data.produce(t, "payments", "shop.payments", at=1.1, parent=p)
        data.record("shop.payments", 0, 0, at=1.2, trace=(t, p))
        data.write(derived=False)
    return location


def _at_version(location: str, version: int) -> None:
    with Store(location) as store:
        with store.transaction() as tx:
            tx.cursor.execute("DELETE FROM schema_version WHERE version > ?", [min(version, LATEST)])
            if version > LATEST:
                tx.cursor.execute("INSERT INTO schema_version VALUES (?, 'from_the_future.sql', now()::TIMESTAMP)",
                                  [version])


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_findings_on_a_lake_analyses_nothing_and_leaves_the_catalog_unchanged(lake_with_pending) -> None:
    before = snapshot_id(lake_with_pending)
    result = CliRunner().invoke(cli, ["findings", "--db", lake_with_pending], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 trace not analysed yet" in result.output
    assert "the lake's collectors analyse them" in result.output
    assert snapshot_id(lake_with_pending) == before


def test_pages_over_a_lake_leave_the_catalog_unchanged(lake_with_pending, monkeypatch) -> None:
    # every page reads through the same state.reads; these two run the freshness line, the graph
    # and every rule (each page over a lake: tests/dashboard/views, with store_kind lake)
    before = snapshot_id(lake_with_pending)
    with app_over(lake_with_pending, monkeypatch) as app:
        for path in ("views/overview.py", "views/findings.py"):
            at = open_page(app, path)
            assert not at.error, (path, [e.value for e in at.error])
    assert snapshot_id(lake_with_pending) == before


@pytest.mark.parametrize(("version", "says"), [
    (LATEST + 1, f"has schema version {LATEST + 1}, newer than this Seamwatch knows ({LATEST}); upgrade Seamwatch"),
    (PREVIOUS, f"has schema version {PREVIOUS}, older than this Seamwatch's ({LATEST}); run this Seamwatch's "
                 "'seamwatch collect"),
])
def test_a_lake_at_another_schema_version_is_one_sentence_and_left_as_it_is(
        new_lake, monkeypatch, version: int, says: str) -> None:
    location = new_lake()
    _at_version(location, version)
    before = snapshot_id(location)
    for command in (["findings", "--db", location], ["dashboard", "--db", location]):
        line = _one_line_error(CliRunner().invoke(cli, command))
        assert line.startswith(f"seamwatch: the lake '{location}' ") and says in line, line
    with app_over(location, monkeypatch) as app:
        at = app.run()
        assert not at.exception
        assert [says in as_read(e.value) for e in at.error] == [True]
    assert snapshot_id(location) == before


def test_dashboard_over_a_lake_not_created_is_one_sentence(new_lake) -> None:
    location = new_lake(create_it=False)
    line = _one_line_error(CliRunner().invoke(cli, ["dashboard", "--db", location]))
    assert "there is no lake at" in line and "seamwatch lake create" in line


def test_dashboard_serves_a_lake_read_only_with_its_refresh(lake_with_pending, monkeypatch) -> None:
    served = []
    # the Streamlit server itself runs in tests/browser/test_lake_in_browser.py; here what it is given
    monkeypatch.setattr(serve_module, "serve_dashboard", served.append)
    monkeypatch.delenv("SEAMWATCH_REFRESH", raising=False)
    before = snapshot_id(lake_with_pending)
    for args, refresh in (([], 15.0), (["--refresh", "2"], 2.0)):
        result = CliRunner().invoke(cli, ["dashboard", "--db", lake_with_pending, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert served[-1].refresh == refresh
        argv = served[-1].argv()
        assert argv[argv.index("--refresh") + 1] == str(refresh)
    assert snapshot_id(lake_with_pending) == before


def test_a_failing_rule_inside_a_page_runs_read_transaction_leaves_the_other_rules_running(
        lake_with_pending, monkeypatch) -> None:
    import dataclasses

    from dashboard.analyses.window import Window
    from dashboard.findings import engine, registry

    first = registry.rules()[0]

    def boom(rule, con, window, topology):  # noqa: ARG001 - a rule's signature
        con.execute("SELECT error('this rule broke')").fetchall()

    monkeypatch.setitem(registry._REGISTRY, first.id, dataclasses.replace(first, find=boom))
    with Store(lake_with_pending, read_only=True) as store:
        cur = store.cursor()
        cur.execute("BEGIN TRANSACTION")  # as dashboard.ui.state.reads holds one for a page run on a lake
        report = engine.evaluate(cur, Window.everything(cur))
        assert report.errors == {first.id: "Invalid Input Error: this rule broke"}, "the next rules ran"
        cur.execute("ROLLBACK")
