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
    """Arrow ingest into records and spans, with and without a primary key (docs/architecture.md#exactly-once)."""
    from collectors.bench.store_keys import run

    for line in run(rows=rows, batch=batch):
        click.echo(line)



@bench.command("kafka")
@click.option("--bootstrap", envvar="SEAMWATCH_KAFKA_BOOTSTRAP", show_envvar=True, required=True, metavar="HOST:PORT",
              help="Broker to fill and read (e.g. one started with scripts/kafka_broker.py start).")
@click.option("--messages", type=click.IntRange(1000), default=1_000_000, show_default=True,
              help="Events on the bench topic.")
def bench_kafka(bootstrap: str, messages: int) -> None:
    """The tap's records/s and memory against a bare consume loop and kcat."""
    from collectors.bench.kafka import run

    for line in run(bootstrap=bootstrap, messages=messages):
        click.echo(line)



@bench.command("lag")
@click.option("--bootstrap", envvar="SEAMWATCH_KAFKA_BOOTSTRAP", show_envvar=True, metavar="HOST:PORT",
              help="Broker to make the groups on (default: one started for the run from scripts/kafka_broker.py).")
@click.option("--groups", type=click.IntRange(10, 100_000), default=1000, show_default=True,
              help="Consumer groups to make (deleted at the end).")
def bench_lag(bootstrap: str | None, groups: int) -> None:
    """Seconds of a lag snapshot over many consumer groups: one group at a time against the poller's window."""
    from tqdm import tqdm

    from collectors.bench import services
    from collectors.bench.lag import run

    with services.kafka(bootstrap) as bs, tqdm(total=groups, unit="group", desc="making groups", leave=False) as bar:
        lines = list(run(bootstrap=bs, groups=groups, progress=lambda n: bar.update(n - bar.n)))
    for line in lines:
        click.echo(line)


@bench.command("otlp")
@click.option("--seconds", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="How long the client process sends, per mode.")
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Decoder processes of the second mode.")
def bench_otlp(seconds: float, workers: int) -> None:
    """Spans/s stored from 512-span OTLP/HTTP protobuf batches, against bare protobuf parsing."""
    from tqdm import tqdm

    from collectors.bench.otlp import run

    with tqdm(total=round(2 * seconds), unit="s", desc="sending", leave=False) as bar:
        def progress(done: float) -> None:
            bar.update(max(0, round(done) - bar.n))

        lines = list(run(seconds=seconds, workers=workers, progress=progress))
    for line in lines:
        click.echo(line)


@bench.command("import")
@click.option("--lines", type=click.IntRange(1000), default=1_000_000, show_default=True,
              help="Good record lines, and as many rejected ones, to import.")
@click.option("--long-line", "long_line", metavar="SIZE", default="2GiB", show_default=True,
              help="Size of the one huge line of the last case (0 leaves it out).")
def bench_import(lines: int, long_line: str) -> None:
    """Seconds and peak memory of `seamwatch import`: good lines, rejected lines, one huge line."""
    from collectors.bench.importer import run
    from collectors.otlp.config import parse_size

    for line in run(lines=lines, long_line=parse_size(long_line, what="--long-line")):
        click.echo(line)


@bench.command("upgrade")
@click.option("--spans", type=click.IntRange(10_000), default=1_000_000, show_default=True,
              help="Spans of the sample shop in the older store (some records come with them).")
@click.option("--records", type=click.IntRange(0), default=1_000_000, show_default=True,
              help="Records in the older store (copied from the shop's until there are as many).")
@click.option("--from", "upto", type=click.IntRange(5, 7), default=5, show_default=True,
              help="The older store's schema version.")
@click.option("--every", type=click.FloatRange(0.1, 60), default=2.0, show_default=True,
              help="Seconds between progress lines (SEAMWATCH_PROGRESS_EVERY).")
def bench_upgrade(spans: int, records: int, upto: int, every: float) -> None:
    """Seconds of each migration of an older store's upgrade, and how close its time left came."""
    from dashboard.benchmarks.upgrade import run

    for line in run(spans=spans, records=records, upto=upto, every=every):
        click.echo(line)


@bench.command("analyses")
@click.option("--spans", "sizes", type=click.IntRange(10_000), multiple=True, show_default=True,
              default=(1_000_000,), help="Spans to generate and query (repeat for several sizes, e.g. 10000000).")
@click.option("--page", "pages", multiple=True, help="Only this page's queries (repeatable), e.g. 'call chains'.")
@click.option("--records", "record_sizes", type=click.IntRange(10_000), multiple=True,
              help="Also time the Records page's searches over a store of this many records, spread over a day "
                   "(repeatable, e.g. 10000000); given alone, only these run.")
@click.pass_context
def bench_analyses(ctx: click.Context, sizes: tuple[int, ...], pages: tuple[str, ...],
                   record_sizes: tuple[int, ...]) -> None:
    """Every page's queries over 1 h and all history, derived tables included (target: < 1 s each)."""
    from dashboard.benchmarks.analyses import PAGES, run

    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        raise click.BadParameter(f"unknown page {unknown[0]!r}; pages: {', '.join(PAGES)}", param_hint="--page")
    default_spans = ctx.get_parameter_source("sizes") is click.core.ParameterSource.DEFAULT
    if not (record_sizes and default_spans and not pages):
        for line in run(sizes=list(sizes), pages=list(pages) or None):
            click.echo(line)
    if record_sizes:
        from dashboard.benchmarks import records

        for line in records.run(sizes=list(record_sizes)):
            click.echo(line)


@bench.command("scale")
@click.option("--bootstrap", envvar="SEAMWATCH_KAFKA_BOOTSTRAP", show_envvar=True, metavar="HOST:PORT",
              help="Broker to fill and tap (default: one started for the run from scripts/kafka_broker.py).")
@click.option("--postgres", metavar="CONNINFO",
              help="libpq string of a PostgreSQL server where the bench may create its lakes' catalog databases "
                   "(default: a cluster started for the run from scripts/postgres_server.py).")
@click.option("--messages", type=click.IntRange(1000), default=500_000, show_default=True,
              help="Events on the topic the collectors tap.")
@click.option("--spans", "sizes", type=click.IntRange(10_000), multiple=True, default=(1_000_000,), show_default=True,
              help="Spans to load into a lake and a file for the page queries (repeat, e.g. 10000000).")
@click.option("--retain", default="3h", show_default=True, help="Retention of the size-over-rounds measurement.")
@click.option("--rounds", type=click.IntRange(1, 48), default=6, show_default=True,
              help="Hours of new spans, each followed by retention and maintenance.")
def bench_scale(bootstrap: str | None, postgres: str | None, messages: int, sizes: tuple[int, ...],
                retain: str, rounds: int) -> None:
    """Tap records/s with 1 and 2 collectors on a lake beside a file, page queries, files and size under --retain."""
    from collectors.store.retention import parse_duration
    from dashboard.benchmarks.scale import run

    for line in run(bootstrap=bootstrap, postgres=postgres, messages=messages, sizes=list(sizes),
                    retain=parse_duration(retain), rounds=rounds):
        click.echo(line)


COMMANDS = [bench]
