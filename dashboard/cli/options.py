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
retain_option = click.option(
    "--retain", metavar="DURATION", envvar="SEAMWATCH_RETAIN", show_envvar=True,
    help="Delete data older than this (e.g. 24h, 7d) in the background; on a lake one collector at a time does.",
)
topology_option = click.option(
    "--topology", type=click.Path(dir_okay=False, exists=True), envvar="SEAMWATCH_TOPOLOGY", show_envvar=True,
    help="Topology YAML to load into the store (without it, the observed graph is drawn).",
)


def load_topology(store: object, topology: str | None) -> None:
    """Replace the store's declared topology with the file's, when one is given.

    `collect` takes it as `up` does: findings read the declaration from the store, so a
    capture browsed or judged later holds its limits, claims and declared edges.
    """
    if topology:
        from collectors.topology import load_into_store

        load_into_store(store, topology)


def retention(store: object, retain: str | None) -> list:
    """The retention component ``--retain`` asks for (none without it); a bad duration is a usage error."""
    if not retain:
        return []
    from collectors.store.retention import Retention, parse_duration

    return [Retention(store, parse_duration(retain))]  # type: ignore[arg-type]
