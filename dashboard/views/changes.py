"""What changed: the last 15 minutes against the hour before — the first page to open in an incident."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analyses.window import Window
from dashboard.changes import per_minute, what_changed
from dashboard.charts.series import bars_over_time
from dashboard.charts.theme import SEVERITY_COLOURS
from dashboard.findings.noise import fold, kind_before_subject
from dashboard.ui import links, numbers, timerange
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md
from dashboard.views_common import RULE_PAGE


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def render(ctx: Ctx) -> None:
    ch = what_changed(ctx.cur, ctx.window.end)
    st.markdown(f"Comparing **{timerange.describe(ch.recent)}** with the hour before "
                f"({timerange.describe(ch.before)}).")
    if ch.moved_from is not None:
        st.caption(f"The newest data is from {ch.recent.end:%Y-%m-%d %H:%M:%S} UTC, before the end of the selected "
                   "range: both periods end there, as 'seamwatch findings --since' does.")
    if not ch.has_data[1]:
        st.warning(f"No data in the last 15 minutes ({timerange.describe(ch.recent)}): nothing to compare, "
                   "so no changes are shown.", icon=":material/schedule:")
    elif not ch.has_data[0]:
        st.warning(f"The hour before ({timerange.describe(ch.before)}) holds no data: there is nothing to compare "
                   "the last 15 minutes with, so the numbers show no change and every finding of the last 15 "
                   "minutes is new.", icon=":material/schedule:")
    c = st.columns(4)
    shown_new = fold(ch.new_findings)
    c[0].metric("New or worse findings", f"{len(ch.new_findings):,}",
                help="Not seen in the hour before, or more severe now.")
    lag_now, lag_then = ch.lag["lag_now"].fillna(0).sum(), ch.lag["lag_before"].fillna(0).sum()
    d, colour = numbers.delta(lag_now - lag_then if ch.comparable else None)
    c[1].metric("Messages behind", f"{int(lag_now):,}", delta=d, delta_color=colour,
                help="All consumer groups' offset lag at the end of each period.")
    (dl_then, dl_now) = ch.dead_letters_per_min
    d, colour = numbers.delta(dl_now - dl_then if ch.comparable else None, "{:+.2f}")
    c[2].metric("Dead letters per minute", f"{dl_now:.2f}", delta=d, delta_color=colour)
    (rd_then, rd_now) = ch.redelivery_rate
    d, colour = numbers.delta(None if rd_now is None or rd_then is None or not ch.comparable
                              else (rd_now - rd_then) * 100, "{:+.1f} pts")
    c[3].metric("Redelivery rate", _pct(rd_now), delta=d, delta_color=colour)

    series = per_minute(ctx.cur, Window(ch.before.start, ch.recent.end))
    st.plotly_chart(bars_over_time(series, x="bucket", y="count", color="series", y_title="count per minute",
                                   title="Dead letters and redeliveries per minute",
                                   colors={"dead letters": SEVERITY_COLOURS["error"],
                                           "redeliveries": SEVERITY_COLOURS["warning"]},
                                   empty="No dead letters or redeliveries in the last 75 minutes",
                                   mark=(ch.recent.start, " last 15 min"), x_range=(ch.before.start, ch.recent.end)),
                    width="stretch", config={"displayModeBar": False})

    st.subheader("New or worse findings")
    if not ch.has_data[1]:
        empty("No data in the last 15 minutes, so no finding can be new.")
    elif not ch.new_findings:
        empty("Nothing new in the last 15 minutes: every finding now was already there in the hour before.")
    for f in shown_new[:20]:
        with st.container(border=True):
            st.markdown(f"**{md(f.severity.upper())} · {md(f.rule)}** on {md(kind_before_subject(f))}**{md(f.subject)}** — "
                        f"{md(f.summary)}")
            st.caption(md(f.remedy))
            page = RULE_PAGE.get(f.rule)
            if page:
                links.to(page, f"Open {links.title(page)}", icon=":material/open_in_new:",
                         **{k: f.subject for k in ("group", "topic") if f.subject_kind == k})

    st.subheader("Consumer lag, then and now")
    lag = ch.lag.sort_values("delta", ascending=False)
    if lag.empty:
        empty("No consumer-group offsets in these periods.")
    else:
        table = pd.DataFrame({
            "group": lag["group"],
            "status_before": lag["status_before"].map(numbers.text),
            "status_now": lag["status_now"].map(numbers.text),
            "lag_before": lag["lag_before"].map(numbers.count),
            "lag_now": lag["lag_now"].map(numbers.count),
            # a change needs both ends: a group absent from one period has none
            "delta": [numbers.signed(d) if not (numbers.missing(a) or numbers.missing(b)) else numbers.MISSING
                      for d, a, b in zip(lag["delta"], lag["lag_before"], lag["lag_now"], strict=True)],
        })
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "group": "Consumer group", "status_before": "Status before", "status_now": "Status now",
            "lag_before": st.column_config.TextColumn("Behind before (messages)"),
            "lag_now": st.column_config.TextColumn("Behind now (messages)"),
            "delta": st.column_config.TextColumn("Change (messages)")})
    if ch.resolved:
        st.subheader("Gone quiet")
        st.caption("Findings of the hour before that did not recur in the last 15 minutes and are no longer open.")
        st.dataframe(pd.DataFrame([{"severity": f.severity, "rule": f.rule, "subject": f.subject}
                                   for f in fold(ch.resolved)]), hide_index=True, width="stretch",
                     column_config={"severity": "Severity", "rule": "Rule", "subject": "Subject"})


run(render, title="What changed",
    intro="The last 15 minutes of data against the hour before: new findings, lag trend, dead-letter and "
          "redelivery rates.")
