"""Options shared by several commands: argument > SEAMWATCH_* environment variable > default."""

from __future__ import annotations

import click

db_option = click.option(
    "--db", "db", envvar="SEAMWATCH_DB", type=click.Path(dir_okay=False), show_envvar=True,
    help="The store: a DuckDB file, or a lake, ducklake:postgres:<connection string>.",
)
port_option = click.option(
    "--port", type=click.IntRange(1, 65535), default=8501, envvar="SEAMWATCH_PORT", show_default=True,
    show_envvar=True, help="Port of the dashboard.",
)
