"""`seamwatch bench …`: benchmarks that print numbers and ratios (targets live here, not in tests)."""

from __future__ import annotations

import click


@click.group("bench")
def bench() -> None:
    """Measure ingest and query speed on this machine."""


@bench.command("store")
@click.option("--rows", type=click.IntRange(1000), default=1_000_000, show_default=True,
              help="Rows per table to ingest.")
@click.option("--batch", type=click.IntRange(100), default=100_000, show_default=True, help="Rows per Arrow batch.")
def bench_store(rows: int, batch: int) -> None:
    """Arrow ingest into records and spans, with and without a primary key (DESIGN §3)."""
    from collectors.bench.store_keys import run

    for line in run(rows=rows, batch=batch):
        click.echo(line)


COMMANDS = [bench]
