"""Docs cannot drift: every CLI option and environment variable is in the README."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _walk(command: click.Command, path: str):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, f"{path} {name}".strip())


def _options():
    for path, command in _walk(cli, ""):
        for param in command.params:
            if isinstance(param, click.Option):
                yield path, param


def test_every_command_is_in_the_readme() -> None:
    missing = [path for path, c in _walk(cli, "")
               if path and not isinstance(c, click.Group) and f"`{path}`" not in README]
    assert not missing, f"commands missing from the README table: {missing}"


def test_every_option_is_in_the_readme() -> None:
    missing = []
    for path, option in _options():
        if option.name == "help":
            continue
        row_prefix = f"| `{path or 'seamwatch'}` |"
        rows = [line for line in README.splitlines() if line.startswith(row_prefix)]
        longest = max(option.opts, key=len)
        if not any(f"`{longest}`" in row for row in rows):
            missing.append(f"{path or 'seamwatch'} {longest}")
    assert not missing, f"options missing from the README's table: {missing}"


def test_every_environment_variable_is_in_the_readme() -> None:
    missing = []
    for path, option in _options():
        envvars = option.envvar if isinstance(option.envvar, list | tuple) else [option.envvar]
        missing += [f"{path} {e}" for e in envvars if e and f"`{e}`" not in README]
    assert not missing, f"environment variables missing from the README: {missing}"
