"""What changed: the last minutes against the hour before, for an incident's first look.

Pure composition of the analyses and the findings engine (no SQL, no Streamlit): new or
worse findings, each consumer group's lag then and now, and the dead-letter and
redelivery rates of both periods.

The periods end at the newest data when the chosen end lies beyond it, as ``seamwatch
findings --since`` does: a store whose collectors stopped is compared over its last data,
not over empty minutes of wall clock (which read as "lag fell to 0" and moved every open
finding to "gone quiet"). A period without data is reported as such and yields no deltas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from dashboard.analyses import burrow, dead_letters, redeliveries
from dashboard.analyses.window import Window
from dashboard.findings import engine
from dashboard.findings.model import severity_rank
from dashboard.read import has_data

RECENT = timedelta(minutes=15)
BEFORE = timedelta(hours=1)


@dataclass
class Changes:
    recent: Window
    before: Window
    new_findings: list[Any] = field(default_factory=list)  # absent before, or worse now
    resolved: list[Any] = field(default_factory=list)  # seen before, not in the recent window
    lag: pd.DataFrame = field(default_factory=pd.DataFrame)  # group, status_before/now, lag_before/now, delta
    dead_letters_per_min: tuple[float, float] = (0.0, 0.0)  # (before, recent)
    redelivery_rate: tuple[float | None, float | None] = (None, None)  # (before, recent), share of processings
    has_data: tuple[bool, bool] = (True, True)  # (before, recent): a period without data gives no deltas
    moved_from: datetime | None = None  # the chosen end, when the periods were moved back to the newest data

    @property
    def comparable(self) -> bool:
        """Whether both periods hold data, so that a difference between them means something."""
        return all(self.has_data)


def _rate(df: pd.DataFrame) -> float | None:
    processed = int(df["processings"].sum()) if len(df) else 0
    return int(df["redeliveries"].sum()) / processed if processed else None


def _lag(con: duckdb.DuckDBPyConnection, before: Window, recent: Window) -> pd.DataFrame:
    then = burrow.group_statuses(con, before)[["group_id", "status", "total_lag"]]
    now = burrow.group_statuses(con, recent)[["group_id", "status", "total_lag"]]
    both = then.merge(now, on="group_id", how="outer", suffixes=("_before", "_now"))
    both["delta"] = both["total_lag_now"].fillna(0) - both["total_lag_before"].fillna(0)
    return both.rename(columns={"group_id": "group", "total_lag_before": "lag_before", "total_lag_now": "lag_now"})


# Rules whose last_seen is the end of the condition itself: a lagging group's last bad poll.
_ENDS_AT_LAST_SEEN = frozenset({"CONSUMER_LAG"})


def _open(f: Any, recent: Window) -> bool:
    """Whether a finding over both periods is still open at their end, so never "gone quiet".

    Seen into the recent period, it is open (even when the recent period alone does not raise
    it, for a rule that needs more history). An error or worse stays open until the data shows
    it resolved: a dead letter not recovered, a consumer that is not idempotent do not heal by
    going quiet. Only a lagging group's finding ends with what it measures (its status back to
    OK before the recent period)."""
    if f.last_seen is None or f.last_seen >= recent.start:
        return True
    return severity_rank(f.severity) >= severity_rank("error") and f.rule not in _ENDS_AT_LAST_SEEN


def anchor(con: duckdb.DuckDBPyConnection, end: datetime) -> datetime:
    """The end of the compared periods: ``end``, or the newest data when that is earlier."""
    span = Window.extent(con)
    return min(end, span.end) if span is not None else end


def what_changed(con: duckdb.DuckDBPyConnection, end: datetime, *, recent: timedelta = RECENT,
                 before: timedelta = BEFORE) -> Changes:
    """Compare [end − recent, end) with the ``before`` that precedes it, ``end`` moved back to
    the newest data when it lies beyond it."""
    at = anchor(con, end)
    r = Window(at - recent, at)
    b = Window(r.start - before, r.start)
    data = (has_data(con, b), has_data(con, r))
    now_found = engine.run(con, r)
    then_found = {(f.rule, f.subject): f for f in engine.run(con, b)}
    new = [f for f in now_found if (f.rule, f.subject) not in then_found
           or severity_rank(f.severity) > severity_rank(then_found[(f.rule, f.subject)].severity)]
    seen_now = {(f.rule, f.subject) for f in now_found}
    resolved = []
    # without data in the recent period nothing can be said to have gone quiet, and without data
    # before nothing was seen to go quiet (a rule of absence, UNOBSERVED_EDGE, still fires there)
    if all(data):
        still_open = {(f.rule, f.subject) for f in engine.run(con, Window(b.start, r.end)) if _open(f, r)}
        resolved = [f for k, f in then_found.items() if k not in seen_now and k not in still_open]
    minutes = (recent.total_seconds() / 60, before.total_seconds() / 60)
    return Changes(
        recent=r, before=b, new_findings=new, resolved=resolved, lag=_lag(con, b, r),
        dead_letters_per_min=(len(dead_letters.dead_letters(con, b)) / minutes[1],
                              len(dead_letters.dead_letters(con, r)) / minutes[0]),
        redelivery_rate=(_rate(redeliveries.redelivery_rate(con, b)), _rate(redeliveries.redelivery_rate(con, r))),
        has_data=data, moved_from=end if at < end else None,
    )


def per_minute(con: duckdb.DuckDBPyConnection, window: Window) -> pd.DataFrame:
    """Dead letters and redeliveries per minute over ``window``: bucket, series, count."""
    bucket = timedelta(minutes=1)
    dl = dead_letters.over_time(con, window, bucket=bucket)
    rd = redeliveries.redelivery_rate(con, window, bucket=bucket)
    parts = []
    if len(dl):
        parts.append(dl.groupby("bucket", as_index=False)["dead_letters"].sum()
                     .rename(columns={"dead_letters": "count"}).assign(series="dead letters"))
    if len(rd):
        parts.append(rd.groupby("bucket", as_index=False)["redeliveries"].sum()
                     .rename(columns={"redeliveries": "count"}).assign(series="redeliveries"))
    if not parts:
        return pd.DataFrame(columns=["bucket", "series", "count"])
    return pd.concat(parts, ignore_index=True)[["bucket", "series", "count"]]
