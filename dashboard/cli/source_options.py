"""The registered sources on the command line: their options as click parameters, their
usage errors as click's (docs/architecture.md#adding-a-source).

The sources declare their options in collectors (collectors.sources.Option, no click there);
this module is the one place that turns those declarations into click options and
arguments, so `collect`, `up` and `import` offer whatever sources are registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from collectors import sources
from collectors.sources import Kind, Option


def click_param(option: Option) -> click.Parameter:
    """The click parameter that offers a source's option."""
    if option.argument:
        return click.Argument([option.name], nargs=-1 if option.multiple else 1, required=True,
                              type=click.Path(path_type=Path))
    kwargs: dict[str, Any] = {"help": option.help}
    if option.kind == "flag":
        kwargs["is_flag"] = True
    elif option.kind == "int":
        kwargs["type"] = click.IntRange(option.low, option.high)
    elif option.kind == "float":
        kwargs["type"] = click.FloatRange(option.low, option.high)
    elif option.kind == "file":
        kwargs["type"] = click.Path(exists=True, dir_okay=False)
    elif option.kind == "dir":
        kwargs["type"] = click.Path(file_okay=False, exists=True)
    elif option.kind == "path":
        kwargs["type"] = click.Path()
    if option.multiple:
        kwargs["multiple"] = True
    if option.default is not None:
        kwargs["default"] = option.default
    if option.show_default:
        kwargs["show_default"] = True
    if option.env:
        kwargs["envvar"], kwargs["show_envvar"] = option.env, True
    if option.metavar:
        kwargs["metavar"] = option.metavar
    return click.Option([option.flag, option.name], **kwargs)


def params(kind: Kind) -> list[click.Parameter]:
    """Every option of every registered source of a kind, in the sources' order."""
    return [click_param(o) for source in sources.sources(kind) for o in source.options]


def source_options(kind: Kind) -> Callable[[click.Command], click.Command]:
    """Decorator (under @click.command) adding the options of the sources of a kind."""
    def add(command: click.Command) -> click.Command:
        command.params.extend(params(kind))
        return command
    return add


@contextmanager
def usage_errors() -> Iterator[None]:
    """A source's UsageError as click's usage error: the command's usage, then the sentence."""
    try:
        yield
    except sources.UsageError as exc:
        if exc.option:
            raise click.BadParameter(str(exc), param_hint=exc.option) from None
        raise click.UsageError(str(exc)) from None


def collectors(store: Any, options: Mapping[str, Any]) -> list[Any]:
    """What `collect` and `up` run for the options given (collectors.sources.collectors)."""
    with usage_errors():
        return sources.collectors(store, options)
