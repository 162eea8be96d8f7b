"""`seamwatch redrive`: replay dead letters to their origin topic, once each (docs/architecture.md#dead-letter-redrive)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import click

from collectors.errors import ConfigError, StoreError, StoreLockedError
from collectors.kafka.redrive import DEFAULT_MAX_REPLAYS, Outcome, Redrive, Request
from collectors.kafka.redrive_ledger import RecordId
from collectors.store import Store
from dashboard.cli.findings import parse_duration
from dashboard.cli.kafka_connection import connection_options, connection_settings
from dashboard.cli.options import db_option

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*s)?\s*$")


def parse_rate(text: str | None) -> float | None:
    """'50/s' or '50' → 50.0 records per second."""
    if text is None:
        return None
    m = _RATE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"--rate must look like 50/s (records per second), not {text!r}")
    return float(m.group(1))


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """A duration back from now (15m, 2h, 1d) or an ISO time (UTC unless it says otherwise) → naive UTC."""
    if text is None:
        return None
    now = now or datetime.now(UTC).replace(tzinfo=None)
    try:
        return now - parse_duration(text)
    except Exception:  # noqa: BLE001 - not a duration: try a time
        pass
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since must be a duration (15m, 2h, 1d) or a time (2026-12-03T21:00), not {text!r}") \
            from None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _record(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[RecordId]:
    try:
        return [RecordId.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("redrive")
@db_option
@click.option("--dlt", metavar="TOPIC", help="Dead-letter topic to replay from.")
@click.option("--record", "records", multiple=True, metavar="TOPIC/PARTITION/OFFSET", callback=_record,
              help="A dead-letter record to replay, as the dashboard names it (repeatable).")
@click.option("--since", metavar="DURATION|TIME",
              help="Replay every dead letter since then: 15m, 2h, 1d back from now, or a UTC time.")
@click.option("--to", "to", metavar="TOPIC",
              help="Topic to replay to (default: each dead letter's origin topic, from its headers).")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed; send and record nothing.")
@click.option("--rate", metavar="N/s", help="At most N replays a second (default: as fast as the broker takes them).")
@click.option("--max-replays", type=click.IntRange(min=0), default=DEFAULT_MAX_REPLAYS, show_default=True,
              help="Leave alone (quarantine) a dead letter whose event was replayed this often already.")
@connection_options
def redrive_cmd(db: str | None, dlt: str | None, records: list[RecordId], since: str | None, to: str | None,
                dry_run: bool, rate: str | None, max_replays: int, **options: object) -> None:
    """Replay dead letters to their origin topic, each exactly once, recorded in the store.

    Each replay carries the original key, value and headers (without the dead-letter headers),
    a seamwatch-redriven-from header naming the dead-letter record and a seamwatch-replay-count
    header. A record already replayed is never sent again, even after a run was killed.
    """
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    settings = connection_settings(options)
    if settings is None:
        raise click.UsageError("--bootstrap is required (or set SEAMWATCH_KAFKA_BOOTSTRAP)")
    if not dlt and records:
        dlt = records[0].topic
    request = Request(dlt=dlt or "", records=tuple(records), since=parse_since(since), to=to, dry_run=dry_run,
                      rate=parse_rate(rate), max_replays=max_replays)

    def show(outcome: Outcome) -> None:
        click.echo(outcome.line())

    if dry_run and not Path(db).exists():  # nothing was replayed yet, and a dry run creates nothing
        report = Redrive(None, settings, request, on_outcome=show).run()
    else:  # a dry run reads the ledger and writes nothing, so it opens the store read-only
        try:
            store = Store(db, read_only=dry_run).open()
        except StoreLockedError as exc:
            who = f"process {exc.pid}" if exc.pid else "another process"
            raise StoreError(
                f"{db} is held by {who}{f' ({exc.holder})' if exc.holder else ''}; a redrive records its "
                "replays there: stop that process first, or redrive from the Dead letters page of "
                "'seamwatch up --allow-redrive'.") from None
        with store:
            report = Redrive(store, settings, request, on_outcome=show).run()
    click.echo(("dry run: " if dry_run else "") + report.summary())
    if report.count("failed"):
        raise click.ClickException(f"{report.count('failed')} dead letters could not be replayed (see above)")


COMMANDS = [redrive_cmd]
