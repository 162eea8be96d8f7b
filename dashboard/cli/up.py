"""`seamwatch up`: collectors and the dashboard in one process over one DuckDB file.

DuckDB admits one writing process per file (docs/architecture.md#one-writer-process), so, like Jaeger's all-in-one, the
collectors run on background threads and the Streamlit server in this same interpreter.
The store is registered in collectors.store.shared, where the dashboard finds it and reads
through cursors while the collectors append.
"""

from __future__ import annotations

import logging
import os

import click

from collectors.runtime import Component, Runtime
from collectors.store import Store, shared
from collectors.store.db import DEFAULT_MEMORY_LIMIT
from collectors.store.retention import Retention, parse_duration
from dashboard.cli import collect
from dashboard.cli.options import db_option, port_option
from dashboard.cli.serve import allow_redrive_option, redrive_settings

log = logging.getLogger(__name__)
DEFAULT_DB = "seamwatch.duckdb"


@click.command("up")
@db_option
@port_option
@click.option("--address", default="127.0.0.1", show_default=True, envvar="SEAMWATCH_ADDRESS", show_envvar=True,
              help="Address the dashboard binds to.")
@click.option("--topology", type=click.Path(dir_okay=False, exists=True), envvar="SEAMWATCH_TOPOLOGY",
              show_envvar=True, help="Topology YAML to load into the store (without it, the observed graph is drawn).")
@click.option("--retain", metavar="DURATION", envvar="SEAMWATCH_RETAIN", show_envvar=True,
              help="Delete data older than this (e.g. 24h, 7d) in the background.")
@click.option("--refresh", type=click.FloatRange(0, 3600), default=5.0, show_default=True,
              envvar="SEAMWATCH_REFRESH", show_envvar=True, help="Seconds between page refreshes (0: never).")
@allow_redrive_option
def up_cmd(db: str | None, port: int, address: str, topology: str | None, retain: str | None, refresh: float,
           allow_redrive: bool, **options: object) -> None:
    """Collect and browse at once: collectors on background threads, the dashboard in this process.

    Ctrl+C stops everything: collectors flush and commit, then the command exits 0.
    """
    db = db or DEFAULT_DB
    redrive_with = redrive_settings(allow_redrive, options)
    retention = parse_duration(retain) if retain else None
    memory_limit = str(options.pop("db_memory_limit", None) or DEFAULT_MEMORY_LIMIT)
    with Store(db, memory_limit=memory_limit) as store:  # fails with one sentence when another process holds the file
        if topology:
            from collectors.topology import load_into_store

            load_into_store(store, topology)
        components: list[Component] = list(collect._build(store, options))
        if retention is not None:
            components.append(Retention(store, retention))
        runtime = Runtime(components)
        shared.register(store)
        shared.set_status(store, runtime.status)
        if redrive_with is not None:
            from dashboard.ui import redrive

            redrive.allow(store, redrive_with)
        try:
            runtime.start()
            collecting = ", ".join(c.name for c in components) or "nothing (give --bootstrap and/or --otlp)"
            click.echo(f"collecting: {collecting}")
            os.environ["SEAMWATCH_REFRESH"] = str(refresh)
            # The app finds the registered store; Streamlit must not watch files in a long-lived process.
            os.environ.setdefault("STREAMLIT_SERVER_FILE_WATCHER_TYPE", "none")
            from dashboard.cli.serve import serve_dashboard

            try:
                serve_dashboard(db, port=port, address=address)
            except SystemExit as exc:  # Streamlit's CLI exits when its server stops (Ctrl+C)
                if exc.code not in (0, None):
                    raise
        finally:
            unsaved = runtime.stop()
            if redrive_with is not None:
                redrive.disallow(store)
            shared.unregister(store)
    if unsaved:
        raise click.ClickException("stopped, but not everything was saved: " + "; ".join(unsaved))
    click.echo("stopped; everything flushed and committed")


# Every option `collect` takes (Kafka, OTLP, …) applies to `up` too, whoever adds them.
up_cmd.params.extend(p for p in collect.collect_cmd.params if p.name != "db")

COMMANDS = [up_cmd]
