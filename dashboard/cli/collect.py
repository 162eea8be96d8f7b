"""`seamwatch collect`: run collectors headless into a store (capture now, browse later).

Kafka options are declared in collectors.kafka (kafka helper), OTLP options in
collectors.otlp (otlp helper); this module only composes them.
"""

from __future__ import annotations

import signal
import threading

import click

from collectors.runtime import Component, Runtime
from collectors.store import Store
from dashboard.cli.kafka_options import build_kafka, kafka_options
from dashboard.cli.options import db_option
from dashboard.cli.otlp_options import build_otlp, otlp_options


def run_until_interrupted(runtime: Runtime, *, status_every: float = 0.0) -> None:
    """Start the runtime, wait for Ctrl+C or SIGTERM, then stop (flush, commit) everything."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runtime.start()
        while not stop.wait(status_every or 3600):
            pass
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("collect")
@db_option
@kafka_options
@otlp_options
def collect_cmd(db: str | None, **options: object) -> None:
    """Run the collectors headless into a store file until Ctrl+C."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    components: list[Component] = []
    with Store(db) as store:
        components.extend(_build(store, options))
        if not components:
            raise click.UsageError("nothing to collect: give --bootstrap and/or --otlp")
        run_until_interrupted(Runtime(components))
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
    return components


COMMANDS = [collect_cmd]
