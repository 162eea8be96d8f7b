"""The CLI turns every failure into one sentence and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from dashboard.cli import cli

GOLDEN = Path(__file__).parents[2] / "collectors" / "normalize" / "golden"


def _run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_import_prints_counts_and_first_reasons(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    result = _run("import", str(GOLDEN / "records_rich.jsonl"), str(GOLDEN / "otlp_rich.jsonl"), "--db", db)
    assert result.exit_code == 0, result.output
    assert "records, 12 records, 4 rejected" in result.output
    assert "otlp, 7 spans, 4 rejected" in result.output
    assert "rejected line 13: 'partition' must be an integer, not 'zero'" in result.output
    again = _run("import", str(GOLDEN / "records_rich.jsonl"), "--db", db)
    assert "already imported, skipped" in again.output


def test_missing_input_file(tmp_path: Path) -> None:
    result = _run("import", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "s.duckdb"))
    assert result.exit_code == 2
    assert result.output.strip() == f"seamwatch: {tmp_path / 'nope.jsonl'} does not exist or is not a file"


def test_file_of_unknown_shape(tmp_path: Path) -> None:
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"hello": "world"}\n')
    result = _run("import", str(odd), "--db", str(tmp_path / "s.duckdb"))
    assert result.exit_code == 2 and "cannot tell what this file holds" in result.output
    assert "Traceback" not in result.output


def test_dashboard_on_a_corrupt_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"\x00garbage" * 1000)
    result = _run("dashboard", "--db", str(bad))
    assert result.exit_code == 2
    assert result.output.startswith(f"seamwatch: {bad} is not a usable Seamwatch database") or \
        result.output.startswith(f"seamwatch: cannot open {bad}")
    assert len(result.output.strip().splitlines()) == 1


def test_dashboard_on_a_missing_database(tmp_path: Path) -> None:
    result = _run("dashboard", "--db", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 2 and "does not exist" in result.output
