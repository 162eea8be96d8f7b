"""Which store the app shows, and how it is reached from a page run.

The app receives ``--db FILE`` (and ``--refresh SECONDS``: how often a live page, one whose
store is written while it is read, reads it again) after ``--`` on the
``streamlit run`` command line; SEAMWATCH_DB / SEAMWATCH_REFRESH stand in when it is run
another way (tests). Nothing connects at import time: the store opens on first use and is
kept for the process with st.cache_resource, through collectors.store.shared, so that a
``seamwatch up`` process hands the dashboard the Store its collectors write to.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import streamlit as st

from collectors.store import shared
from collectors.store.db import Store

DEFAULT_REFRESH = 5.0


@dataclass(frozen=True)
class AppArgs:
    db: str | None
    refresh: float  # seconds between refreshes of live pages; 0 turns it off


def app_args(argv: list[str] | None = None) -> AppArgs:
    """The app's own arguments (those after ``--``), falling back to the environment."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    parser.add_argument("--refresh", type=float)
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    db = known.db or os.environ.get("SEAMWATCH_DB") or None
    refresh = known.refresh
    if refresh is None:
        try:
            refresh = float(os.environ.get("SEAMWATCH_REFRESH", DEFAULT_REFRESH))
        except ValueError:
            refresh = DEFAULT_REFRESH
    return AppArgs(db=db, refresh=max(0.0, refresh))


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    # A failure raises and is not cached: the next run tries again (file created, lock freed).
    return shared.get(path)


def store() -> Store:
    args = app_args()
    if not args.db:
        from collectors.errors import StoreError

        raise StoreError("no database given: run 'seamwatch dashboard --db FILE' or 'seamwatch demo'.")
    return _store(args.db)


def cluster() -> str | None:
    """The Kafka cluster the pages show (the sidebar's choice), or None for the only one."""
    return st.session_state.get("_cluster_scope")


def cursor() -> duckdb.DuckDBPyConnection:
    """A fresh cursor for this run, narrowed to the chosen cluster: readers see a consistent
    snapshot per query."""
    from dashboard.scope import scoped

    return scoped(store().cursor(), cluster())


@contextmanager
def reads() -> Iterator[Callable[[], duckdb.DuckDBPyConnection]]:
    """Where one page run takes its cursors: a function returning one, valid inside the block.

    On a file, a fresh cursor per use (a query costs nothing to start). On a lake every
    autocommitted query would first read the catalog's newest snapshot and the tables' file
    lists from PostgreSQL; so a page run reads through one cursor in one read transaction:
    the catalog is read once, and every number of the run comes from the same snapshot.
    """
    s = store()
    if not s.lake:
        yield cursor
        return
    cur = cursor()  # the cluster's views are made before the transaction: a rollback keeps them
    cur.execute("BEGIN TRANSACTION")
    try:
        yield lambda: cur
    finally:
        try:
            cur.execute("ROLLBACK")  # nothing was written: the snapshot is simply let go
        except duckdb.Error:
            pass
        cur.close()


def live() -> bool:
    """True when the store is written to while pages read it: by collectors in this process, or,
    on a lake, by collectors anywhere."""
    try:
        s = store()
        return shared.writable(s) or s.lake
    except Exception:  # noqa: BLE001 - an unopenable store is simply not live
        return False


def collectors_status() -> dict | None:
    """What this process's collectors report, when they write the shown store (seamwatch up)."""
    args = app_args()
    return shared.status(args.db) if args.db else None
