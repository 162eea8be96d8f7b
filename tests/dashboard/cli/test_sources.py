"""Sources are assembled from the registry: a source registered anywhere is offered by
`collect` and `up`, and built, started and stopped like the built-in ones
(docs/architecture.md#adding-a-source)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from collectors import sources
from dashboard.cli import cli

# A plugin as a user would write one: it registers a source, then runs the ordinary CLI.
TOY = '''
from pathlib import Path

from collectors import sources
from collectors.status import Unreported


class Toy:  # notes its life cycle in a file
    name = "toy"

    def __init__(self, out: Path) -> None:
        self.out = out

    def start(self) -> None:
        self.out.write_text("started\\n")

    def stop(self, timeout: float = 10.0) -> None:
        self.out.write_text(self.out.read_text() + "stopped\\n")

    def status(self):
        return Unreported("a toy")


class ToySource:
    name, kind, switch = "toy", "stream", "--toy-out"
    options = (sources.Option("--toy-out", "toy_out", kind="path", metavar="FILE", env="SEAMWATCH_TOY_OUT",
                              help="Where the toy source notes its life."),)

    def build(self, store, settings):
        return [Toy(Path(settings["toy_out"]))] if settings["toy_out"] else []


sources.register(ToySource())
from dashboard.cli import main

main()
'''


@pytest.fixture
def toy(tmp_path: Path):
    script = tmp_path / "toy_seamwatch.py"
    script.write_text(TOY, encoding="utf-8")

    def run(*args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=tmp_path, **kwargs)
    return run


def test_the_registry_lists_the_built_in_sources_in_order() -> None:
    assert [s.name for s in sources.sources("stream")] == ["kafka", "otlp"]
    assert [s.name for s in sources.sources("files")] == ["import"]
    assert sources.switches() == "--bootstrap and/or --otlp"


def test_collect_up_and_import_offer_exactly_the_sources_options() -> None:
    def option_names(kind: str) -> list[str]:
        return [o.name for s in sources.sources(kind) for o in s.options]

    alerts = ["metrics", "notify", "notify_min_severity", "alert_window", "alert_interval"]  # dashboard/alerts
    assert [p.name for p in cli.commands["collect"].params] == ["db", "topology", "db_memory_limit", "retain", *alerts,
                                                                 *option_names("stream")]
    up = [p.name for p in cli.commands["up"].params]
    assert up[-len(option_names("stream")):] == option_names("stream")
    assert [p.name for p in cli.commands["import"].params] == ["db", *option_names("files")]


def test_a_source_registered_by_a_plugin_is_offered_by_collect_and_up(toy) -> None:
    for command in ("collect", "up"):
        out, _ = toy(command, "--help").communicate(timeout=60)
        assert "--toy-out FILE" in out and "Where the toy source notes its life." in out, out
        assert "SEAMWATCH_TOY_OUT" in out
        assert out.index("--otlp-decoders") < out.index("--toy-out")  # after the built-in ones
    proc = toy("collect", "--db", "s.duckdb")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "nothing to collect: give --bootstrap, --otlp and/or --toy-out" in out


def test_collect_builds_starts_and_stops_a_registered_source(toy, tmp_path: Path) -> None:
    marker = tmp_path / "toy.txt"
    proc = toy("collect", "--db", "s.duckdb", "--toy-out", str(marker))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        assert marker.read_text() == "started\n"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, out
    assert marker.read_text() == "started\nstopped\n"
    assert "collectors stopped; everything flushed and committed" in out


def test_a_source_cannot_take_an_option_another_source_has() -> None:
    class Clash:
        name, kind, switch = "clash", "stream", "--otlp"
        options = (sources.Option("--otlp", "clash_otlp", kind="flag"),)

        def build(self, store, settings):
            return []

    with pytest.raises(ValueError, match="--otlp is an option of 'otlp' already"):
        sources.register(Clash())
    assert "clash" not in [s.name for s in sources.sources()]


def test_a_usage_error_of_a_source_is_shown_as_one_before_the_store_is_opened(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(cli, ["collect", "--db", str(db), "--schemas", str(tmp_path),
                                      "--schema-registry", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "Usage: cli collect [OPTIONS]" in result.output
    assert "Error: give --schemas or --schema-registry, not both" in result.output
    assert not db.exists()


def test_an_option_at_fault_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n")
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "a.jsonl"), "--db", str(tmp_path / "s.duckdb"),
                                      "--max-line-bytes", "100"])
    assert result.exit_code == 2
    assert "Error: Invalid value for --max-line-bytes: must be at least 1KiB, not 100" in result.output


def test_every_source_option_is_a_click_option_of_its_kind() -> None:
    from dashboard.cli.source_options import click_param

    for kind in sources.KINDS:
        for source in sources.sources(kind):
            for option in source.options:
                param = click_param(option)
                assert isinstance(param, click.Argument if option.argument else click.Option)
                assert param.name == option.name
