"""`seamwatch up`: collectors and the dashboard in one process over one DuckDB file.

DuckDB admits one writing process per file (docs/architecture.md#one-writer-process), so, like Jaeger's all-in-one, the
collectors run on background threads and the Streamlit server in this same interpreter.
It runs what `collect` runs (the registered stream sources, collectors.sources). The store
is registered in collectors.store.shared, where the dashboard finds it and reads through
cursors while the collectors append; the app's own settings (file, refresh) go on its
command line (serve.DashboardSettings).
"""

from __future__ import annotations

import logging

import click

from collectors.runtime import Component, Runtime
from collectors.sources import switches
from collectors.store import Store, shared
from dashboard.cli import collect
from dashboard.cli.alert_options import build_alerts
from dashboard.cli.options import db_option, load_topology, port_option, retention, topology_option
from dashboard.cli.serve import DashboardSettings, allow_redrive_option, redrive_settings, serve_dashboard
from dashboard.cli.source_options import collectors

log = logging.getLogger(__name__)
DEFAULT_DB = "seamwatch.duckdb"


@click.command("up")
@db_option
@port_option
@click.option("--address", default="127.0.0.1", show_default=True, envvar="SEAMWATCH_ADDRESS", show_envvar=True,
              help="Address the dashboard binds to.")
@topology_option
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
    given_limit = options.pop("db_memory_limit", None)
    store = Store(db, **collect.store_settings(options, str(given_limit) if given_limit else None))
    collect.lean_under_budget(options)
    components: list[Component] = collectors(store, options)  # checks every option before the file is opened
    components.extend(retention(store, retain))
    if components:  # last: they start once the collectors run, and stop first
        components.extend(build_alerts(store, options, components))
    # the app is told where to look and how often to refresh on its own command line, and
    # finds the store it reads through shared (the one the collectors write)
    settings = DashboardSettings(db=db, port=port, address=address, refresh=refresh,
                                 watch_files=False)  # Streamlit must not watch files in a long-lived process
    with store:  # fails with one sentence when another process holds the file
        load_topology(store, topology)
        runtime = Runtime(components)
        shared.register(store)
        shared.set_status(store, runtime.status)
        if redrive_with is not None:
            from dashboard.ui import redrive

            redrive.allow(store, redrive_with)
        try:
            runtime.start()
            collecting = ", ".join(c.name for c in components) or f"nothing (give {switches()})"
            click.echo(f"collecting: {collecting}")
            try:
                serve_dashboard(settings)
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
up_cmd.params.extend(p for p in collect.collect_cmd.params if p.name not in ("db", "topology"))

COMMANDS = [up_cmd]
