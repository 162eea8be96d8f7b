"""The frame every page runs in: title, freshness line, live refresh, friendly errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pandas as pd
import streamlit as st

from collectors.errors import SeamwatchError, first_line
from collectors.status import fmt_age as fmt_duration
from collectors.store.db import Store
from dashboard.analyses.window import Window
from dashboard.charts import colours
from dashboard.read import data_span, declared_services, freshness, has_data
from dashboard.ui import links, state, timerange
from dashboard.ui.text import md


@dataclass
class Ctx:
    store: Store
    window: Window
    live: bool
    reads: Callable[[], duckdb.DuckDBPyConnection] = state.cursor

    @property
    def cur(self) -> duckdb.DuckDBPyConnection:
        """A cursor narrowed to the cluster chosen in the sidebar: on a file a fresh one per use
        (one analysis leaving a result unread cannot break the next), on a lake the run's one
        read transaction (state.reads)."""
        return self.reads()


def fmt_age(seconds: float | None) -> str:
    """'4 s', '12 min', '3 h', '2 d' — how long ago, in plain words."""
    if seconds is None or pd.isna(seconds):
        return "never"
    return fmt_duration(seconds)  # the collectors' status lines say ages the same way


def freshness_line(cur: duckdb.DuckDBPyConnection) -> str:
    """'newest: traces 3 s ago · Kafka records 5 s ago · offset snapshots 2 s ago'."""
    df = freshness(cur)
    df = df[df["kind"] != "ingest errors"]
    if df.empty:
        return "The store holds no data yet."
    newest = df.groupby("kind")["age_s"].min()
    return "Newest data: " + " · ".join(f"{k} {fmt_age(v)} ago" for k, v in newest.items())


def explain(exc: BaseException) -> str:
    if isinstance(exc, SeamwatchError):
        return str(exc)
    first = first_line(exc)
    return f"The store could not be read ({first}); it may be from another Seamwatch version or damaged."


def run(render: Callable[[Ctx], None], *, title: str, intro: str | None = None) -> None:
    """Draw a page: a live store refreshes it every few seconds, keeping filters and scroll."""
    st.title(title)
    if intro:
        st.caption(intro)
    links.show_notes()
    args = state.app_args()

    def body() -> None:
        if st.session_state.pop("_rerun_app", False):
            st.rerun()  # the time filter changed from inside a page: redraw the sidebar too
        try:
            with state.reads() as reads:
                cur = reads()
                window, narrowed = timerange.resolve(cur)
                colours.declare(declared_services(cur))  # each declared service its own colour, on every page
                live = state.live()
                st.caption(f"{timerange.describe(window)} · {freshness_line(cur)}"
                           + (f" · refreshing every {args.refresh:g} s" if live and args.refresh else ""))
                if narrowed:
                    st.caption(narrowed)
                if not has_data(cur, window):
                    _empty_window(cur)
                render(Ctx(store=state.store(), window=window, live=live, reads=reads))
        except (SeamwatchError, duckdb.Error) as exc:
            st.error(md(explain(exc)))

    if state.live() and args.refresh > 0:
        st.fragment(run_every=args.refresh)(body)()
    else:
        body()


def empty(text: str) -> None:
    """An empty state that says why and what would fill it."""
    st.info(text, icon=":material/info:")


def _empty_window(cur: duckdb.DuckDBPyConnection) -> None:
    span = data_span(cur)
    if span is None:
        empty("The store holds no data yet. Import files ('seamwatch import'), run collectors "
              "('seamwatch up' or 'collect'), or load the sample ('seamwatch demo').")
        return
    st.warning(f"Nothing happened in this time range. The store holds data from "
               f"{timerange.describe(span)}.", icon=":material/schedule:")
    st.button("Show all data", on_click=timerange.select_all, key="show_all_data")
