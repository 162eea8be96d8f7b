"""`seamwatch dashboard`: serve the Streamlit app over a store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from collectors.store import Store
from dashboard.cli.kafka_options import connection_options, connection_settings
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


def serve_dashboard(db: str, *, port: int, address: str = "127.0.0.1") -> None:
    """Run the Streamlit server in this process until interrupted."""
    from streamlit.web import cli as stcli

    click.echo(f"dashboard on http://{address}:{port}/ over {db} (Ctrl+C stops)")
    sys.argv = [
        "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button: this dashboard is not a Streamlit Cloud app
        "--", "--db", db,
    ]
    stcli.main(prog_name="streamlit")


@click.command("dashboard")
@db_option
@port_option
@click.option("--address", default="127.0.0.1", show_default=True, envvar="SEAMWATCH_ADDRESS", show_envvar=True,
              help="Address the dashboard binds to.")
@allow_redrive_option
@connection_options
def dashboard_cmd(db: str | None, port: int, address: str, allow_redrive: bool, **options: object) -> None:
    """Serve the dashboard over an existing store file that no collector holds."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    settings = redrive_settings(allow_redrive, options)
    if settings is None:
        # Fail here, with one sentence, if the file is missing, held or not ours.
        Store(db, read_only=True).open().close()
        serve_dashboard(db, port=port, address=address)
        return
    if not Path(db).exists():
        raise click.UsageError(f"{db} does not exist; import data or run collectors first")
    # Replays are recorded in the store, so a dashboard that may redrive holds the file for writing.
    with Store(db) as store:
        from dashboard.ui import redrive

        redrive.allow(store, settings)
        os.environ.setdefault("SEAMWATCH_REFRESH", "0")  # no collectors here: nothing to refresh for
        try:
            serve_dashboard(db, port=port, address=address)
        finally:
            redrive.disallow(store)


COMMANDS = [dashboard_cmd]
