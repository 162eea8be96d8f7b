"""`seamwatch simulate`: the sample shop live on a Kafka broker (real producers and consumers)."""

from __future__ import annotations

import secrets
from pathlib import Path

import click


def fresh_seed() -> int:
    """A new seed per run: two runs against one broker must not publish the same event ids
    (which the rules rightly call EVENT_ID_COLLISION). --seed reproduces a run."""
    return secrets.randbelow(2**31)


@click.command("simulate")
@click.option("--bootstrap", envvar="SEAMWATCH_KAFKA_BOOTSTRAP", show_envvar=True, required=True, metavar="HOST:PORT",
              help="Broker to run the sample shop on (e.g. python scripts/kafka_broker.py start).")
@click.option("--otlp", "otlp", metavar="ENDPOINT",
              help="Send spans over OTLP/HTTP, e.g. http://127.0.0.1:4318 (seamwatch up or collect --otlp).")
@click.option("--spans-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write spans as OTLP JSON lines to DIR/spans.otlp.jsonl (seamwatch import reads it).")
@click.option("--duration", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds of traffic; the incidents happen at fixed fractions of it.")
@click.option("--rate", type=click.FloatRange(min=0.5, max=200), default=4.0, show_default=True,
              help="Orders per second.")
@click.option("--seed", type=int, default=None,
              help="Seed of the event ids and amounts (default: a fresh one per run, printed; give it to repeat a run).")
@click.option("-X", "extra", multiple=True, metavar="KEY=VALUE", help="librdkafka setting for every client (repeatable).")
def simulate_cmd(bootstrap: str, otlp: str | None, spans_dir: Path | None, duration: float, rate: float, seed: int | None,
                 extra: tuple[str, ...]) -> None:
    """Run the sample shop live on a broker, with its incidents, and print what was injected."""
    from collectors.kafka.config import parse_x
    from sample_topology.live import run_live
    from sample_topology.live_otel import Telemetry

    if (otlp is None) == (spans_dir is None):
        raise click.UsageError("give exactly one of --otlp ENDPOINT or --spans-dir DIR")
    telemetry = Telemetry.to_otlp(otlp) if otlp else Telemetry.to_dir(spans_dir)
    if seed is None:
        seed = fresh_seed()
    click.echo(f"running the sample shop on {bootstrap} for {duration:.0f}s with seed {seed} "
               f"(--seed {seed} repeats this run) ...", err=True)
    report = run_live(bootstrap=bootstrap, telemetry=telemetry, duration=duration, rate=rate, seed=seed,
                      conf=parse_x(extra))
    click.echo(f"seed {seed}")
    for line in report.lines():
        click.echo(line)


COMMANDS = [simulate_cmd]
