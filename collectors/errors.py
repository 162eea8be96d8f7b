"""Typed exceptions of the core. The CLI and the dashboard turn them into one sentence."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception as one line for a log or a status: its message's first line, or its type
    when the message is empty (a bare ``raise OSError()`` must not fail the handler itself)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SeamwatchError(Exception):
    """Base of every error Seamwatch explains to its user."""


class StoreError(SeamwatchError):
    """The database file cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file open for writing."""

    def __init__(self, path: str, pid: int | None, holder: str | None = None):
        self.path, self.pid, self.holder = path, pid, holder
        who = f"process {pid}" if pid else "another process"
        if holder:
            who += f" ({holder})"
        if holder and holder.startswith("seamwatch up"):
            instead = (f"open the dashboard that process serves, or stop it (Ctrl+C) and run "
                       f"'seamwatch dashboard --db {path}'")
        elif holder and holder.startswith("seamwatch collect"):
            instead = (f"stop it (Ctrl+C) and run 'seamwatch dashboard --db {path}', or collect with "
                       f"'seamwatch up' to browse while collecting")
        else:
            instead = (f"stop it first and run 'seamwatch dashboard --db {path}' "
                       f"('seamwatch up' collects and serves the dashboard in one process)")
        super().__init__(f"{path} is held by {who} (DuckDB allows one writer); {instead}.")


class SchemaTooNewError(StoreError):
    """The file was written by a newer Seamwatch."""


class InputError(SeamwatchError):
    """An input file or argument cannot be used at all."""


class ConfigError(SeamwatchError):
    """A setting is missing or malformed."""
