"""The dashboard is served with explicit settings: the app reads them from its own command
line, never from variables a command left in the environment."""

from __future__ import annotations

from dashboard.cli.serve import DashboardSettings
from dashboard.ui.state import app_args


def _app_argv(settings: DashboardSettings) -> list[str]:
    argv = settings.argv()
    return argv[argv.index("--") + 1:]


def test_up_hands_the_app_its_file_and_refresh_and_turns_off_the_file_watcher(monkeypatch) -> None:
    monkeypatch.delenv("SEAMWATCH_REFRESH", raising=False)
    settings = DashboardSettings(db="live.duckdb", port=8600, address="0.0.0.0", refresh=1.5, watch_files=False)
    assert app_args(_app_argv(settings)) == app_args(["--db", "live.duckdb", "--refresh", "1.5"])
    assert app_args(_app_argv(settings)).refresh == 1.5
    argv = settings.argv()
    assert argv[argv.index("--server.fileWatcherType") + 1] == "none"
    assert argv[argv.index("--server.port") + 1] == "8600" and argv[argv.index("--server.address") + 1] == "0.0.0.0"


def test_the_dashboard_command_leaves_refresh_and_watching_to_their_defaults(monkeypatch) -> None:
    monkeypatch.delenv("SEAMWATCH_REFRESH", raising=False)
    settings = DashboardSettings(db="s.duckdb")
    assert "--refresh" not in settings.argv() and "--server.fileWatcherType" not in settings.argv()
    assert app_args(_app_argv(settings)).refresh == 5.0
