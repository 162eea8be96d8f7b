"""`seamwatch dashboard`: serve the Streamlit app over a store."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from collectors.store import Store
from dashboard.cli.options import db_option, port_option

APP = Path(__file__).resolve().parent.parent / "app.py"


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
def dashboard_cmd(db: str | None, port: int, address: str) -> None:
    """Serve the dashboard over an existing store file that no collector holds."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    # Fail here, with one sentence, if the file is missing, held or not ours.
    Store(db, read_only=True).open().close()
    serve_dashboard(db, port=port, address=address)


COMMANDS = [dashboard_cmd]
