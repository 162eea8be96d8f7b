"""One Store per database file per process, shared by every thread that reads it.

DuckDB admits one process per file while it is open for writing (docs/architecture.md#one-writer-process). When this
process already holds the file for writing (``seamwatch up``: collectors on background
threads), readers such as the dashboard must reuse that Store and take cursors from it;
opening the file a second time would fail. Otherwise a reader opens it read-only once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from collectors.errors import first_line
from collectors.status import Status, Unreported
from collectors.store.db import Store
from collectors.store.lake import is_lake

_lock = threading.Lock()
_stores: dict[str, Store] = {}
# What the process's collectors say about themselves (Runtime.status), per database file.
_status: dict[str, Callable[[], dict[str, Status]]] = {}


def _key(path: str | os.PathLike[str]) -> str:
    if is_lake(path):
        return str(path)  # a catalog's connection string, not a file
    return str(Path(path).expanduser().resolve())


def register(store: Store) -> Store:
    """Make an open (usually writable) Store the one this process uses for its file."""
    with _lock:
        _stores[_key(store.path)] = store
    return store


def unregister(store: Store) -> None:
    with _lock:
        if _stores.get(_key(store.path)) is store:
            del _stores[_key(store.path)]
            _status.pop(_key(store.path), None)


def set_status(store: Store, provider: Callable[[], dict[str, Status]]) -> None:
    """Let readers ask the collectors writing ``store`` how they are doing (Runtime.status)."""
    with _lock:
        _status[_key(store.path)] = provider


def status(path: str | os.PathLike[str]) -> dict[str, Status] | None:
    """Each collector's status for the file, or None when no collector of this process writes it."""
    with _lock:
        provider = _status.get(_key(path))
    if provider is None:
        return None
    try:
        return provider()
    except Exception as exc:  # noqa: BLE001 - a status that fails to report must not break a page
        return {"status": Unreported(first_line(exc))}


def held(path: str | os.PathLike[str]) -> Store | None:
    """The Store this process holds for ``path``, if any."""
    with _lock:
        return _stores.get(_key(path))


def get(path: str | os.PathLike[str]) -> Store:
    """The process's Store for ``path``: the registered one, else one opened read-only.

    Raises StoreError (one sentence) when the file is missing, held by another process
    or not a Seamwatch database; nothing is remembered then, so a later call retries.
    """
    key = _key(path)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = Store(path, read_only=True).open()
            _stores[key] = store
        return store


def writable(store: Store) -> bool:
    """True when the store is written to while it is read (live data)."""
    return not store.read_only


def close_all() -> None:
    """Close and forget every Store opened here (tests; process end)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _status.clear()
    for s in stores:
        s.close()
