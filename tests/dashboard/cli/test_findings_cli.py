"""`seamwatch findings` and the engine behind it, over a real store file."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dashboard.cli import cli
from dashboard.findings import engine


def _incidents(data):
    """An idempotency violation (error) early on, a duplicate publication (warning) 10 minutes later."""
    t = data.trace_id()
    for i, at in enumerate((0, 20)):
        p = data.process(t, "invoicing-service", "invoicing", "shop.orders", 0, 1, at=at, instance=f"i-{i}")
        data.produce(t, "invoicing-service", "shop.invoices", at=at + 0.1, parent=p)
    same = {"eventId": "o-7", "type": "OrderCreated", "occurredAt": 1, "version": "1"}
    data.record("shop.orders", 1, 3, at=600, value=same, key="o", trace=(t, "00000000000000aa"))
    data.record("shop.orders", 1, 4, at=600.5, value=same, key="o", trace=(t, "00000000000000aa"))
    data.write()


def _invoke(store, *args):
    store.close()  # the CLI opens the file read-only, as it would a capture no collector holds
    return CliRunner().invoke(cli, ["findings", "--db", store.path, *args], catch_exceptions=False)


def test_engine_sorts_worst_first_and_filters_by_severity(data, store, window):
    _incidents(data)
    found = engine.run(store.cursor(), window)
    assert [f.rule for f in found][:2] == ["IDEMPOTENCY_VIOLATION", "DUPLICATE_PUBLISH"]
    assert {f.rule for f in engine.run(store.cursor(), window, min_severity="error")} == {"IDEMPOTENCY_VIOLATION"}
    assert engine.evaluate(store.cursor(), window).errors == {}


def test_table_for_people_and_exit_status_zero_without_fail_on(data, store):
    _incidents(data)
    result = _invoke(store)
    assert result.exit_code == 0
    assert "IDEMPOTENCY_VIOLATION" in result.output and "group invoicing" in result.output
    assert "→ Make the consumer idempotent" in result.output


def test_fail_on_exits_one_at_or_above_the_level_only(data, store):
    _incidents(data)
    assert _invoke(store, "--fail-on", "error").exit_code == 1
    assert _invoke(store, "--fail-on", "critical").exit_code == 0
    # what is hidden from the listing still fails the gate
    result = _invoke(store, "--min-severity", "critical", "--fail-on", "warning")
    assert result.exit_code == 1 and "no findings at or above critical" in result.output


def test_json_for_scripts_with_since_on_the_stored_data(data, store):
    _incidents(data)
    doc = json.loads(_invoke(store, "--json").output)
    rules = [f["rule"] for f in doc["findings"]]
    assert rules[:2] == ["IDEMPOTENCY_VIOLATION", "DUPLICATE_PUBLISH"]
    dup = doc["findings"][1]
    assert dup["subject"] == "shop.orders" and dup["evidence"]["event_ids"][0]["event_id"] == "o-7"
    assert doc["errors"] == {}
    # the last two minutes of the capture hold the duplicate publication, not the early violation
    late = [f["rule"] for f in json.loads(_invoke(store, "--json", "--since", "2m").output)["findings"]]
    assert "DUPLICATE_PUBLISH" in late and "IDEMPOTENCY_VIOLATION" not in late


def test_bad_since_is_one_clear_sentence(data, store):
    _incidents(data)
    result = _invoke(store, "--since", "an hour")
    assert result.exit_code == 2
    assert "--since must look like 15m, 1h or 2d" in result.output


def test_a_rule_that_cannot_run_is_reported_not_hidden(data, store, window):
    _incidents(data)
    # a damaged store: the rules that read payload hashes fail, the others do not
    store.con.execute("ALTER TABLE records DROP COLUMN value_hash")
    report = engine.evaluate(store.cursor(), window)
    assert "DEAD_LETTER" in report.errors
    assert "LONG_SYNC_CHAIN" not in report.errors  # the others still ran
    result = _invoke(store)
    assert result.exit_code == 2 and "some rules could not run" in result.output


def test_every_finding_uses_a_known_rule_id(data, store, window):
    from dashboard.findings.model import RULES

    _incidents(data)
    assert {f.rule for f in engine.run(store.cursor(), window)} <= set(RULES)


def test_from_and_to_select_the_window_the_dashboard_names(data, store):
    """The Findings page prints its window as --from/--to: the CLI lists that window's findings."""
    from datetime import timedelta

    from tests.support.builders import T0

    _incidents(data)
    late = json.loads(_invoke(store, "--json", "--from", (T0 + timedelta(seconds=300)).isoformat(),
                              "--to", (T0 + timedelta(seconds=900)).isoformat()).output)
    assert [f["rule"] for f in late["findings"]] == ["DUPLICATE_PUBLISH"]
    assert late["window"]["start"] == (T0 + timedelta(seconds=300)).isoformat()
    early = json.loads(_invoke(store, "--json", "--to", (T0 + timedelta(seconds=300)).isoformat()).output)
    assert "IDEMPOTENCY_VIOLATION" in [f["rule"] for f in early["findings"]]
    assert "DUPLICATE_PUBLISH" not in [f["rule"] for f in early["findings"]]


def test_bad_from_or_to_is_one_clear_sentence(data, store):
    _incidents(data)
    result = _invoke(store, "--from", "yesterday")
    assert result.exit_code == 2 and "--from must be a UTC time like 2026-03-02T12:00:00" in result.output
    both = _invoke(store, "--since", "1h", "--from", "2026-03-02T12:00:00")
    assert both.exit_code == 2 and "not both" in both.output


def test_each_count_in_the_table_says_what_it_counts(data, store):
    """An idempotency violation counts messages, a duplicate publication records: the COUNT
    column says so on each row, not only in the summary lines below."""
    _incidents(data)
    rows = {line.split()[1]: line for line in _invoke(store).output.splitlines()
            if line.startswith(("error ", "warning ", "info "))}
    assert "  1 message  " in rows["IDEMPOTENCY_VIOLATION"]
    assert "  2 records  " in rows["DUPLICATE_PUBLISH"]


def test_json_keeps_count_a_number_and_adds_its_unit(data, store):
    _incidents(data)
    by_rule = {f["rule"]: f for f in json.loads(_invoke(store, "--json").output)["findings"]}
    dup = by_rule["DUPLICATE_PUBLISH"]
    assert (dup["count"], dup["count_unit"], dup["count_text"]) == (2, "record", "2 records")
    assert by_rule["IDEMPOTENCY_VIOLATION"]["count_text"] == "1 message"


def test_every_rule_says_what_its_count_counts():
    from dashboard.findings import registry

    assert all(r.counts.strip() for r in registry.rules())


def test_the_table_folds_an_error_rule_of_very_many_groups_as_the_pages_do(data, store):
    """45 stopped groups were 45 CONSUMER_LAG blocks above the dead letters; the table now folds them
    into one block naming the groups, says how many findings it stands for, and --each lists each."""
    from dashboard.cli.findings import FOLDED_NAMED
    from dashboard.findings.noise import FOLD_ERRORS_OVER

    groups = FOLD_ERRORS_OVER + 5
    data.stopped_groups(groups)
    data.write()
    folded = _invoke(store, "--min-severity", "error").output
    rows = [line for line in folded.splitlines() if line.startswith("error ")]
    assert [r.split()[1] for r in rows] == ["CONSUMER_LAG", "DEAD_LETTER"], folded
    assert f"{groups} groups" in rows[0] and "findings" not in rows[0], rows[0]
    assert "on dispatch-00, dispatch-01," in folded and f"and {groups - FOLDED_NAMED:,} more" in folded, folded
    assert f"{groups + 1} findings ({groups + 1} error) in 2 rows; --each lists every one" in folded, folded
    each = _invoke(store, "--min-severity", "error", "--each").output
    assert sum(line.startswith("error     CONSUMER_LAG") for line in each.splitlines()) == groups, each
    assert "--each lists" not in each and f"{groups + 1} findings ({groups + 1} error)" in each
    assert len(json.loads(_invoke(store, "--json").output)["findings"]) >= groups + 1  # scripts get each one
