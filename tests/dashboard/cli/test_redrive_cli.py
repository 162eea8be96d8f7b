"""`seamwatch redrive` and --allow-redrive: bad input is one clear line, before anything is opened or sent."""

from __future__ import annotations

from datetime import datetime

import pytest
from click.testing import CliRunner

from collectors.errors import ConfigError
from dashboard.cli import cli
from dashboard.cli.redrive import parse_rate, parse_since


def test_rate_and_since_forms() -> None:
    assert parse_rate("50/s") == 50.0 and parse_rate("2.5") == 2.5 and parse_rate(None) is None
    for bad in ("0/s", "fast", "-1/s", "5/m"):
        with pytest.raises(ConfigError, match="--rate must look like 50/s"):
            parse_rate(bad)
    now = datetime(2026, 12, 3, 22, 0)
    assert parse_since("2h", now) == datetime(2026, 12, 3, 20, 0)
    assert parse_since("2026-12-03T21:00", now) == datetime(2026, 12, 3, 21, 0)
    assert parse_since("2026-12-03T21:00+01:00", now) == datetime(2026, 12, 3, 20, 0)
    with pytest.raises(ConfigError, match="--since must be a duration"):
        parse_since("yesterday", now)


@pytest.mark.parametrize(("args", "says"), [
    (["dashboard", "--db", "x.duckdb", "--allow-redrive"], "--allow-redrive needs --bootstrap"),
    (["up", "--db", "x.duckdb", "--allow-redrive"], "--allow-redrive needs --bootstrap"),
    (["redrive", "--db", "x.duckdb", "--dlt", "a.DLT", "--since", "1h"], "--bootstrap is required"),
    (["redrive", "--bootstrap", "h:1", "--dlt", "a.DLT", "--since", "1h"], "--db is required"),
])
def test_usage_errors(tmp_path, monkeypatch, args, says) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("SEAMWATCH_DB", "SEAMWATCH_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (tmp_path / "x.duckdb").exists()  # refused before any store was created


def test_a_held_store_says_how_to_redrive_instead(tmp_path) -> None:
    """collect (or up) holds the file: the redrive says to stop it or use up's Redrive button."""
    import subprocess
    import sys

    db = tmp_path / "held.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from collectors.store import Store; "
                               f"s = Store({str(db)!r}).open(); print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = CliRunner().invoke(cli, ["redrive", "--db", str(db), "--bootstrap", "127.0.0.1:9",
                                          "--dlt", "a.DLT", "--since", "1h"])
    finally:
        holder.kill()
        holder.wait(10)
    assert result.exit_code == 2, result.output
    assert f"is held by process {holder.pid}" in result.output
    assert "seamwatch up --allow-redrive" in result.output and "Traceback" not in result.output
