"""What changed: the last 15 minutes against the hour before — the first page to open in an incident."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analyses.window import Window
from dashboard.changes import per_minute, what_changed
from dashboard.charts.series import bars_over_time
from dashboard.charts.theme import SEVERITY_COLOURS
from dashboard.ui import links, timerange
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md
from dashboard.views_common import RULE_PAGE


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def render(ctx: Ctx) -> None:
    ch = what_changed(ctx.cur, ctx.window.end)
    st.markdown(f"Comparing **{timerange.describe(ch.recent)}** with the hour before "
                f"({timerange.describe(ch.before)}). The end is the end of the selected time range.")
    c = st.columns(4)
    c[0].metric("New or worse findings", len(ch.new_findings), help="Not seen in the hour before, or more severe now.")
    lag_now, lag_then = ch.lag["lag_now"].fillna(0).sum(), ch.lag["lag_before"].fillna(0).sum()
    c[1].metric("Messages behind", f"{int(lag_now):,}", delta=f"{int(lag_now - lag_then):+,}", delta_color="inverse",
                help="All consumer groups' offset lag at the end of each period.")
    (dl_then, dl_now) = ch.dead_letters_per_min
    c[2].metric("Dead letters per minute", f"{dl_now:.2f}", delta=f"{dl_now - dl_then:+.2f}", delta_color="inverse")
    (rd_then, rd_now) = ch.redelivery_rate
    c[3].metric("Redelivery rate", _pct(rd_now),
                delta=None if rd_now is None or rd_then is None else f"{(rd_now - rd_then) * 100:+.1f} pts",
                delta_color="inverse")

    series = per_minute(ctx.cur, Window(ch.before.start, ch.recent.end))
    st.plotly_chart(bars_over_time(series, x="bucket", y="count", color="series", y_title="per minute",
                                   title="Dead letters and redeliveries per minute",
                                   colors={"dead letters": SEVERITY_COLOURS["error"],
                                           "redeliveries": SEVERITY_COLOURS["warning"]},
                                   empty="No dead letters or redeliveries in the last 75 minutes",
                                   mark=(ch.recent.start, " last 15 min"), x_range=(ch.before.start, ch.recent.end)),
                    width="stretch", config={"displayModeBar": False})

    st.subheader("New or worse findings")
    if not ch.new_findings:
        empty("Nothing new in the last 15 minutes: every finding now was already there in the hour before.")
    for f in ch.new_findings[:20]:
        with st.container(border=True):
            st.markdown(f"**{md(f.severity.upper())} · {md(f.rule)}** on {md(f.subject_kind)} **{md(f.subject)}** — "
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
        st.dataframe(lag[["group", "status_before", "status_now", "lag_before", "lag_now", "delta"]],
                     hide_index=True, width="stretch", column_config={
                         "group": "Consumer group", "status_before": "Status before", "status_now": "Status now",
                         "lag_before": st.column_config.NumberColumn("Behind before", format="localized"),
                         "lag_now": st.column_config.NumberColumn("Behind now", format="localized"),
                         "delta": st.column_config.NumberColumn("Change", format="%+d")})
    if ch.resolved:
        st.subheader("Gone quiet")
        st.caption("Findings of the hour before that did not recur in the last 15 minutes.")
        st.dataframe(pd.DataFrame([{"severity": f.severity, "rule": f.rule, "subject": f.subject}
                                   for f in ch.resolved]), hide_index=True, width="stretch",
                     column_config={"severity": "Severity", "rule": "Rule", "subject": "Subject"})


run(render, title="What changed",
    intro="The last 15 minutes against the hour before: new findings, lag trend, dead-letter and redelivery rates.")
