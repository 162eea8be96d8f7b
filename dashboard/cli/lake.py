"""`seamwatch lake create`: make the shared store many collectors and dashboards use (collectors/store/lake.py)."""

from __future__ import annotations

import click

from collectors.errors import ConfigError
from collectors.store.lake import create, is_lake
from dashboard.cli.options import db_option


@click.group("lake")
def lake_group() -> None:
    """A DuckLake store: a PostgreSQL catalog and Parquet files, shared by many processes."""


@lake_group.command("create")
@db_option
@click.option("--data-path", "data_path", required=True, metavar="DIR|s3://BUCKET/PREFIX/",
              help="Where the lake's Parquet files go: a folder every machine that writes sees at this path, or "
                   "S3-compatible object storage (credentials and endpoint from AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL).")
def create_cmd(db: str | None, data_path: str) -> None:
    """Create a lake once; then give its --db to collect, up, import, dashboard and findings."""
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    if not is_lake(db):
        raise ConfigError(f"--db must name a lake, ducklake:postgres:<connection string>, not {db!r}")
    create(db, data_path)
    click.echo(f"lake created: catalog {db}, data under {data_path}")


COMMANDS = [lake_group]
