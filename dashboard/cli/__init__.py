"""The `seamwatch` command.

The CLI is the outermost layer: it composes collectors and dashboard (collectors never
import dashboard, docs/architecture.md#data-flow), and it is the only place where exceptions become one-line
messages.
"""

from __future__ import annotations

import logging
import sys

import click

from collectors import __version__
from collectors.errors import SeamwatchError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SeamwatchError as exc:
            click.echo(f"seamwatch: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("seamwatch: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="seamwatch")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Seamwatch: audit the seam between synchronous APIs and Kafka events."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register() -> None:
    from dashboard.cli import bench, collect, data, findings, lake, redrive, serve, simulate, up

    for module in (bench, collect, data, findings, lake, redrive, serve, simulate, up):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="seamwatch")
