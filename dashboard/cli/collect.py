"""`seamwatch collect`: run collectors headless into a store (capture now, browse later).

Kafka options are declared in collectors.kafka (kafka helper), OTLP options in
collectors.otlp (otlp helper); this module only composes them.
"""

from __future__ import annotations

import select
import signal
import socket
import threading

import click

from collectors.runtime import Component, Runtime
from collectors.store import Store
from collectors.store.db import DEFAULT_MEMORY_LIMIT
from dashboard.cli.kafka_options import build_kafka, kafka_options
from dashboard.cli.options import db_option
from dashboard.cli.otlp_options import build_otlp, otlp_options


def run_until_interrupted(runtime: Runtime, *, status_every: float = 0.0) -> list[str]:
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


@click.command("collect")
@db_option
@memory_limit_option
@kafka_options
@otlp_options
def collect_cmd(db: str | None, db_memory_limit: str, **options: object) -> None:
    """Run the collectors headless into a store file until Ctrl+C."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    components: list[Component] = []
    with Store(db, memory_limit=db_memory_limit) as store:
        components.extend(_build(store, options))
        if not components:
            raise click.UsageError("nothing to collect: give --bootstrap and/or --otlp")
        unsaved = run_until_interrupted(Runtime(components))
    if unsaved:
        raise click.ClickException("collectors stopped, but not everything was saved: " + "; ".join(unsaved))
    click.echo("collectors stopped; everything flushed and committed")


def _build(store: Store, options: dict[str, object]) -> list[Component]:
    """Components for the given options; each collector package adds its own."""
    components: list[Component] = []
    components.extend(build_kafka(store, options))
    components.extend(build_otlp(store, options))
    if components:  # whatever is collected gets its per-trace facts derived as it goes quiet
        from collectors.derive.component import Deriver

        # first, so it stops last: the collectors flush what they hold, then it derives everything pending
        components.insert(0, Deriver(store))
        if store.lake:  # small files merged, old snapshots and their files deleted (one collector at a time)
            from collectors.store.lake_maintenance import LakeMaintenance

            components.append(LakeMaintenance(store))
    return components


COMMANDS = [collect_cmd]
