"""`seamwatch dashboard`: serve the Streamlit app over a store."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from collectors.store import Store, schema_version
from collectors.store.lake import is_lake
from collectors.store.migrate import LATEST
from dashboard.cli.kafka_connection import connection_options, connection_settings
from dashboard.cli.options import db_option, port_option

APP = Path(__file__).resolve().parent.parent / "app.py"

allow_redrive_option = click.option(
    "--allow-redrive", is_flag=True,
    help="Show a Redrive button on the Dead letters page that replays dead letters to their origin topic "
         "(needs --bootstrap; asks for confirmation).")


def redrive_settings(allow_redrive: bool, options: dict[str, object]) -> object:
    """The cluster settings the Redrive button replays with, or None when it is not allowed."""
    if not allow_redrive:
        return None
    settings = connection_settings(options)
    if settings is None:
        raise click.UsageError("--allow-redrive needs --bootstrap: the cluster to replay on")
    return settings


@dataclass(frozen=True)
class DashboardSettings:
    """What the dashboard is served with. The app gets ``db`` and ``refresh`` as its own
    arguments (after ``--``, read by dashboard.ui.state.app_args), Streamlit the rest as its
    flags: nothing travels through the process environment."""

    db: str
    port: int = 8501
    address: str = "127.0.0.1"
    refresh: float | None = None  # seconds between refreshes of live pages; None: the app's default
    watch_files: bool = True  # Streamlit reruns on source edits; off in a long-lived process (up)

    def argv(self) -> list[str]:
        """The `streamlit run` command line for these settings."""
        argv = [
            "streamlit", "run", str(APP),
            "--server.port", str(self.port), "--server.address", self.address, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--client.toolbarMode", "viewer",  # no "Deploy" button: this dashboard is not a Streamlit Cloud app
        ]
        if not self.watch_files:
            argv += ["--server.fileWatcherType", "none"]
        argv += ["--", "--db", self.db]
        if self.refresh is not None:
            argv += ["--refresh", str(self.refresh)]
        return argv


def serve_dashboard(settings: DashboardSettings) -> None:
    """Run the Streamlit server in this process until interrupted."""
    from streamlit.web import cli as stcli

    click.echo(f"dashboard on http://{settings.address}:{settings.port}/ over {settings.db} (Ctrl+C stops)")
    sys.argv = settings.argv()
    stcli.main(prog_name="streamlit")


@click.command("dashboard")
@db_option
@port_option
@click.option("--address", default="127.0.0.1", show_default=True, envvar="SEAMWATCH_ADDRESS", show_envvar=True,
              help="Address the dashboard binds to.")
@click.option("--refresh", type=click.FloatRange(0, 3600), default=15.0, show_default=True,
              envvar="SEAMWATCH_REFRESH", show_envvar=True,
              help="Seconds between page refreshes over a lake, which collectors write meanwhile (0: never).")
@allow_redrive_option
@connection_options
def dashboard_cmd(db: str | None, port: int, address: str, refresh: float, allow_redrive: bool,
                  **options: object) -> None:
    """Serve the dashboard over an existing store: a file no collector holds, or a lake that
    collectors write meanwhile (read-only: it never migrates or writes the lake)."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    redrive_with = redrive_settings(allow_redrive, options)
    if redrive_with is None:
        # Fail here, with one sentence, if the file is missing, held or not ours (a lake: absent, or
        # at another schema version).
        with Store(db, read_only=True) as store:
            version = schema_version(store.con)
        if version < LATEST:  # a file (a lake at another version was refused): read as it is
            click.echo(f"{db} has schema version {version}, this Seamwatch {LATEST}: the dashboard reads it as it "
                       "is and never upgrades it, so pages that need newer tables say what is missing. Upgrade "
                       f"it once with 'seamwatch findings --db {db}': it shows the upgrade's progress and the "
                       "time left, then derives the traces the upgrade queued.", err=True)
        serve_dashboard(DashboardSettings(db=db, port=port, address=address, refresh=refresh))
        return
    if not is_lake(db) and not Path(db).exists():
        raise click.UsageError(f"{db} does not exist; import data or run collectors first")
    # Replays are recorded in the store, so a dashboard that may redrive holds the file for writing.
    with Store(db) as store:
        from dashboard.ui import redrive

        redrive.allow(store, redrive_with)
        try:  # a file: no collectors here, nothing to refresh for
            serve_dashboard(DashboardSettings(db=db, port=port, address=address, refresh=refresh if store.lake else 0))
        finally:
            redrive.disallow(store)


COMMANDS = [dashboard_cmd]
