"""The sidebar time-range filter every page shares.

The choice lives in st.session_state (it survives page switches) and in the URL's query
params (``?range=1h``, or ``?range=custom&from=…&to=…`` in UTC), so a pasted link shows
the same window. Presets are resolved against "now" on every run, so a live page moves.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import streamlit as st

from dashboard.analyses.window import Window
from dashboard.read import data_span, utcnow

PRESETS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "all": None,
    "custom": None,
}
LABELS = {"15m": "15 min", "1h": "1 hour", "6h": "6 hours", "24h": "24 hours", "all": "all data", "custom": "custom"}
# The demo's data starts 30 minutes before now: the default window must show all of it.
DEFAULT = "1h"
_FMT = "%Y-%m-%dT%H:%M"
# What the date inputs accept. Outside it Streamlit refuses to draw the widget and the whole
# page fails, so a pasted range beyond it is moved to the bound (with a note), never passed on.
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2099, 12, 31)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        return None


def _adopt_url() -> None:
    """Take the range from the URL when it changed since we last wrote it (a pasted link)."""
    qp = st.query_params
    url = (qp.get("range"), qp.get("from"), qp.get("to"))
    if url == st.session_state.get("_range_url"):
        return
    if url[0] not in PRESETS:
        if url[0] is not None:  # a link naming a range that does not exist: say so, keep the current one
            st.session_state["_range_unknown"] = url[0]
        return
    st.session_state["range"] = url[0]
    if url[0] == "custom":
        start, end = _parse(url[1]), _parse(url[2])
        if start and end and end > start:
            start, end, notes = _within_widgets(start, end)
            _set_custom(start, end)
            st.session_state["_range_clamped"] = (notes, (start, end)) if notes else None
        else:
            st.session_state["range"] = DEFAULT
            st.session_state["_range_unread"] = True


def _within_widgets(start: datetime, end: datetime) -> tuple[datetime, datetime, list[str]]:
    """The range moved inside [MIN_DATE, MAX_DATE], and a sentence per end that moved."""
    lo, hi = datetime.combine(MIN_DATE, time()), datetime.combine(MAX_DATE, time(23, 55))
    notes = []
    if start < lo:
        notes.append(f"The range started {start:%Y-%m-%d}, before {MIN_DATE}, the earliest the filter takes: "
                     f"it starts there instead.")
        start = lo
    if end > hi:
        notes.append(f"The range ended {end:%Y-%m-%d}, after {MAX_DATE}, the latest the filter takes: "
                     f"it ends there instead.")
        end = hi
    # Both ends moved to one bound: an empty range, which the sidebar reports as such.
    return min(start, hi), max(end, lo), notes


def _set_custom(start: datetime, end: datetime) -> None:
    st.session_state["range_from_date"], st.session_state["range_from_time"] = start.date(), start.time()
    st.session_state["range_to_date"], st.session_state["range_to_time"] = end.date(), end.time()


def _custom() -> tuple[datetime, datetime]:
    s = st.session_state
    return (datetime.combine(s["range_from_date"], s["range_from_time"]),
            datetime.combine(s["range_to_date"], s["range_to_time"]))


def _write_url(choice: str) -> None:
    qp = st.query_params
    want = {"range": choice}
    if choice == "custom":
        start, end = _custom()
        want |= {"from": start.strftime(_FMT), "to": end.strftime(_FMT)}
    for k in ("range", "from", "to"):
        if k in want:
            if qp.get(k) != want[k]:
                qp[k] = want[k]
        elif k in qp:
            del qp[k]
    st.session_state["_range_url"] = (want.get("range"), want.get("from"), want.get("to"))


def sidebar() -> None:
    """Draw the filter in the sidebar (once per full run, from app.py)."""
    if "range" not in st.session_state:
        st.session_state["range"] = DEFAULT
    _adopt_url()
    if "range_from_date" not in st.session_state:
        now = utcnow().replace(second=0, microsecond=0)
        _set_custom(now - timedelta(hours=1), now)
    side = st.sidebar
    side.radio("Time range (UTC)", list(PRESETS), key="range", format_func=LABELS.get, horizontal=True,
               help="Every page shows this window. 'all data' spans the whole store.")
    choice = st.session_state["range"]
    if choice == "custom":
        c1, c2 = side.columns(2)
        clamped = st.session_state.get("_range_clamped")
        c1.date_input("From", key="range_from_date", min_value=MIN_DATE, max_value=MAX_DATE)
        c2.time_input("at", key="range_from_time", step=timedelta(minutes=5))
        c1.date_input("To", key="range_to_date", min_value=MIN_DATE, max_value=MAX_DATE)
        c2.time_input("at ", key="range_to_time", step=timedelta(minutes=5))
        start, end = _custom()
        if clamped and clamped[1] == (start, end):  # shown while the moved range is the one in use
            for note in clamped[0]:
                side.caption(note)
        if end <= start:
            side.warning("'To' must be after 'From'; showing the last hour instead.")
    unknown = st.session_state.pop("_range_unknown", None)
    if unknown is not None:
        from dashboard.ui import links
        from dashboard.ui.text import md

        links.note(f"The link asks for time range “{md(unknown)}”, which does not exist (one of "
                   f"{', '.join(PRESETS)}); showing {LABELS[choice]} instead.")
    if st.session_state.pop("_range_unread", False):
        side.caption("The link's time range could not be read (from and to must be dates like "
                     "2026-03-02T12:00, to after from); showing the last hour instead.")
    _write_url(choice)


def current(con) -> Window:
    """The selected window, resolved now (pages call this on every run and refresh)."""
    return resolve(con)[0]


def resolve(con) -> tuple[Window, str | None]:
    """The selected window, and a note when a custom range was narrowed to the data."""
    choice = st.session_state.get("range", DEFAULT)
    if choice == "all":
        return data_span(con) or Window.last(timedelta(hours=1)), None
    if choice == "custom" and "range_from_date" in st.session_state:
        start, end = _custom()
        if end > start:
            return _narrowed(Window(start, end), data_span(con))
        choice = DEFAULT
    duration = PRESETS.get(choice) or PRESETS[DEFAULT]
    end = utcnow()
    return Window(end - duration, end), None


def _narrowed(window: Window, span: Window | None) -> tuple[Window, str | None]:
    """A custom window cut to the data it overlaps: a range from 2000 to now over an hour of
    data would otherwise draw that hour as one bar. A window beside the data stays as chosen,
    and the page says it is empty."""
    if span is None or window.end <= span.start or window.start >= span.end:
        return window, None
    if window.start >= span.start and window.end <= span.end:
        return window, None
    cut = Window(max(window.start, span.start), min(window.end, span.end))
    return cut, f"The chosen range ({describe(window)}) was narrowed to the data in it."


def describe(window: Window) -> str:
    """'09:12–10:12 UTC' (dates shown when they differ from today)."""
    today = utcnow().date()

    def fmt(t: datetime) -> str:
        return t.strftime("%H:%M") if t.date() == today else t.strftime("%Y-%m-%d %H:%M")

    return f"{fmt(window.start)} – {fmt(window.end)} UTC"


def select_all() -> None:
    """Switch the filter to all data (the button of an empty window)."""
    st.session_state["range"] = "all"
    st.session_state["_rerun_app"] = True

