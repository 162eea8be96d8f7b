"""The Dead letters page's redrive panel: what became of replays, and the guarded Redrive button.

The button exists only when the server was started with ``--allow-redrive``
(``seamwatch up`` or ``dashboard``): that command calls :func:`allow` with the store it holds
for writing and the Kafka settings to reach the cluster. It asks for confirmation showing
the count, then replays through the same code as ``seamwatch redrive``
(docs/architecture.md#dead-letter-redrive).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from collectors.errors import SeamwatchError
from collectors.store import Store, shared
from dashboard.analyses.redrives import redrives
from dashboard.ui import state
from dashboard.ui.text import md

_lock = threading.Lock()
_allowed: dict[str, Any] = {}  # database file → KafkaSettings of the cluster to replay on

_OUTCOME_HELP = ("processed: its group processed the replay (a span without error, or committed past it); "
                 "failed again: it was dead-lettered again or its processing failed; not reached: neither yet; "
                 "quarantined: replayed too often already, left alone; in doubt: a run stopped before the broker "
                 "confirmed it.")


def _key(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())


def allow(store: Store, settings: Any) -> None:
    """Let this process's dashboard redrive the dead letters of ``store`` (held for writing) on a cluster."""
    shared.register(store)
    with _lock:
        _allowed[_key(store.path)] = settings


def disallow(store: Store) -> None:
    with _lock:
        _allowed.pop(_key(store.path), None)


def allowed(db: str | None) -> Any:
    """The Kafka settings to redrive with, or None when this server may not redrive."""
    if not db:
        return None
    with _lock:
        return _allowed.get(_key(db))


def panel(store: Store, window: Any, dead: pd.DataFrame) -> None:
    """Replays and their outcome, then (when allowed) the Redrive button for the dead letters shown."""
    try:
        done = redrives(store.cursor(), window)
    except duckdb.CatalogException:  # a read-only store from before redrives (migration 012)
        done = pd.DataFrame(columns=["dead_letter", "outcome"])
    settings = allowed(state.app_args().db)
    if done.empty and settings is None:
        return
    st.subheader("Redrive")
    if not done.empty:
        counts = done["outcome"].value_counts()
        st.caption(" · ".join(f"{n} {o}" for o, n in counts.items()) + f" of {len(done)} redriven dead letters",
                   help=_OUTCOME_HELP)
        st.dataframe(done[["dead_letter", "replay", "group", "replay_count", "outcome", "new_dead_letter",
                           "redriven_at"]], hide_index=True, width="stretch", column_config={
            "dead_letter": "Dead letter", "replay": "Replayed as", "group": "Group",
            "replay_count": st.column_config.NumberColumn("Replay", format="%d"), "outcome": "Outcome",
            "new_dead_letter": "Dead-lettered again as",
            "redriven_at": st.column_config.DatetimeColumn("Redriven (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    if settings is None:
        return
    _button(store, settings, dead, done)


def _candidates(dead: pd.DataFrame, done: pd.DataFrame) -> dict[str, list[str]]:
    """Dead-letter topic → record ids not recovered and unknown to the ledger."""
    if dead.empty:
        return {}
    known = set(done["dead_letter"]) if not done.empty else set()
    out: dict[str, list[str]] = {}
    for r in dead.itertuples(index=False):
        rid = f"{r.dlt_topic}/{int(r.dlt_partition)}/{int(r.dlt_offset)}"
        if not bool(r.recovered) and rid not in known:
            out.setdefault(str(r.dlt_topic), []).append(rid)
    return out


def _button(store: Store, settings: Any, dead: pd.DataFrame, done: pd.DataFrame) -> None:
    result = st.session_state.get("redrive_result")  # kept: a live page redraws itself every few seconds
    if result is not None:
        (st.error if result[0] else st.success)(md(result[1]))
    todo = _candidates(dead, done)
    n = sum(len(v) for v in todo.values())
    if not n:
        st.caption("Every dead letter shown is recovered or already redriven.")
        return
    if not st.session_state.get("redrive_confirm"):
        st.button(f"Redrive {n} dead letter{'s' if n != 1 else ''}…", key="redrive_ask", icon=":material/replay:",
                  on_click=lambda: st.session_state.update(redrive_confirm=n, redrive_result=None))
        return
    topics = ", ".join(f"{len(v)} from {t}" for t, v in sorted(todo.items()))
    st.warning(md(f"Replay {n} dead letter{'s' if n != 1 else ''} ({topics}) to their origin topics? Each is "
                  "sent once, with a provenance header; one replayed too often already is quarantined instead."),
               icon=":material/warning:")
    c = st.columns([3, 2, 7])
    if c[0].button(f"Confirm: redrive {n}", key="redrive_go", type="primary"):
        st.session_state.pop("redrive_confirm", None)
        st.session_state["redrive_result"] = _run(store, settings, todo)
        st.rerun()
    if c[1].button("Cancel", key="redrive_cancel"):
        st.session_state.pop("redrive_confirm", None)
        st.rerun()


def _run(store: Store, settings: Any, todo: dict[str, list[str]]) -> tuple[bool, str]:
    """Replay each topic's records; (failed, one line saying what happened)."""
    from collectors.kafka.redrive import Redrive, Request
    from collectors.kafka.redrive_ledger import RecordId

    lines, failed = [], False
    with st.spinner("Replaying …"):
        for topic, ids in sorted(todo.items()):
            try:
                report = Redrive(store, settings, Request(dlt=topic, records=[RecordId.parse(i) for i in ids])).run()
            except SeamwatchError as exc:
                lines.append(f"{topic}: {exc}")
                failed = True
                continue
            failed = failed or bool(report.count("failed"))
            lines.append(f"{topic}: {report.summary()}")
    return failed, "Redrive: " + "; ".join(lines)
