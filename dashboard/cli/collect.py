"""`seamwatch collect`: run collectors headless into a store (capture now, browse later).

The options beyond the store's are the registered stream sources' (collectors.sources: the
Kafka source declares its options in collectors/kafka/source.py, the OTLP source in
collectors/otlp/source.py); this module only runs what they build, until Ctrl+C.
"""

from __future__ import annotations

import select
import signal
import socket
import threading
from collections.abc import Mapping
from typing import Any

import click

from collectors.runtime import Runtime
from collectors.sources import switches
from collectors.store import Store, faults
from collectors.store.db import DEFAULT_MEMORY_LIMIT
from dashboard.cli.alert_options import alert_options, build_alerts
from dashboard.cli.options import db_option, load_topology, retain_option, retention, topology_option
from dashboard.cli.source_options import collectors, source_options


def run_until_interrupted(runtime: Runtime, *, status_every: float = 0.0, started: str = "") -> list[str]:
    """Start the runtime, wait for Ctrl+C or SIGTERM, then stop (flush, commit) everything.

    Returns what could not be saved (see :meth:`Runtime.stop`), empty when everything was.

    The kernel hands a signal to any thread of the process that can take it, not always the
    main one. Python then only sets a flag, and a main thread asleep in a lock wait (Event.wait)
    slept on until its timeout: an hour. The signal module's wakeup fd is written whichever
    thread took the signal, so the main thread waits on that socket instead, and the Python
    handler runs as soon as select() returns.
    """
    stop = threading.Event()
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    unsaved: list[str] = []
    try:
        runtime.start()
        if started:
            click.echo(started)
        while not stop.is_set():
            select.select([wake_r], [], [], status_every or 1.0)
            try:
                wake_r.recv(4096)
            except BlockingIOError:
                pass
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        wake_r.close()
        wake_w.close()
        unsaved = runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return unsaved


memory_limit_option = click.option(
    "--db-memory-limit", "db_memory_limit", metavar="SIZE", default=DEFAULT_MEMORY_LIMIT, show_default=True,
    envvar="SEAMWATCH_DB_MEMORY_LIMIT", show_envvar=True,
    help="Memory DuckDB may use (its own default is 80%% of RAM); past it, it spills to disk.")


def store_settings(options: Mapping[str, object], given: str | None) -> dict[str, Any]:
    """The store's DuckDB settings: a --memory budget's when one is given (its memory limit, one
    worker thread), else --db-memory-limit."""
    if options.get("memory"):
        from collectors.memory_budget import MemoryBudget

        return MemoryBudget.parse(str(options["memory"])).store_settings()
    return {"memory_limit": given or DEFAULT_MEMORY_LIMIT}


def lean_under_budget(options: Mapping[str, object]) -> None:
    """With --memory, the process's allocators give memory back at once (collectors/memory_budget.py)."""
    if options.get("memory"):
        from collectors.memory_budget import lean_process

        lean_process()


@source_options("stream")
@click.command("collect")
@db_option
@topology_option
@memory_limit_option
@retain_option
@alert_options
def collect_cmd(db: str | None, topology: str | None, db_memory_limit: str, retain: str | None,
                **options: object) -> None:
    """Run the collectors headless into a store file until Ctrl+C."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    if not options.get("metrics") and not options.get("notify"):
        from collectors.memory_budget import arrow_without_pandas

        arrow_without_pandas()  # only the rules behind the alerts use pandas
    store = Store(db, **store_settings(options, db_memory_limit))
    lean_under_budget(options)
    components = collectors(store, options)  # checks every option before the file is opened
    if not components:
        raise click.UsageError(f"nothing to collect: give {switches()}")
    components.extend(retention(store, retain))
    # last: they start once the collectors run, and stop first (what is queued to notify stays in the store)
    components.extend(build_alerts(store, options, components))
    with store:
        load_topology(store, topology)
        names = ", ".join(c.name for c in components)
        unsaved = run_until_interrupted(Runtime(components), started=(
            f"collecting into {faults.name(db)}: {names}; Ctrl+C stops, flushes and commits"))
    if unsaved:
        raise click.ClickException("collectors stopped, but not everything was saved: " + "; ".join(unsaved))
    click.echo("collectors stopped; everything flushed and committed")


COMMANDS = [collect_cmd]
