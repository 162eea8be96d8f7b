"""Dead letters: what was given up on, by origin, group and error, and whether it recovered."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analyses import dead_letters as dl
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.series import bars_over_time
from dashboard.ui import links, redrive
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code

FAMILIES = {"spring-dlt": "Spring DeadLetterPublishingRecoverer headers", "spring-retry": "Spring @RetryableTopic headers",
            "spring-cloud-stream": "Spring Cloud Stream headers", "connect": "Kafka Connect error headers",
            "topic-pattern": "the topic's name"}


def _key(r) -> str:
    return f"{r.dlt_topic}/{r.dlt_partition}/{r.dlt_offset}"


def render(ctx: Ctx) -> None:
    df = dl.dead_letters(ctx.cur, ctx.window)
    unrecovered = int((~df["recovered"].astype(bool)).sum()) if len(df) else 0
    c = st.columns(5)
    c[0].metric("Dead letters", f"{len(df):,}")
    c[1].metric("Not recovered", f"{unrecovered:,}",
                help="Neither reprocessed by the origin group nor republished on the origin topic since.")
    c[2].metric("Origin topics", df["origin_topic"].nunique() if len(df) else 0)
    c[3].metric("Groups", df["group"].nunique() if len(df) else 0)
    c[4].metric("Error kinds", df["error_class"].nunique() if len(df) else 0)

    st.plotly_chart(bars_over_time(dl.over_time(ctx.cur, ctx.window, bucket=auto_bucket(ctx.window, 40)),
                                   x="bucket", y="dead_letters", color="origin_topic", y_title="dead letters",
                                   title="Dead letters over time, by origin topic",
                                   empty="No dead letters in this time range"),
                    width="stretch", config={"displayModeBar": False})
    if df.empty:
        empty("No record landed in a dead-letter topic in this time range "
              "(topics *.DLT, *-dlt, *.DLQ, *-dlq, error.*.*, or Spring / Kafka Connect error headers).")
        return
    st.subheader("By origin, group and error")
    summ = dl.summary(ctx.cur, ctx.window)
    summ["open"] = summ["dead_letters"] - summ["recovered"]
    summ = summ.sort_values(["open", "dead_letters"], ascending=False)
    summ["dlt_topics"] = summ["dlt_topics"].map(", ".join)
    st.dataframe(summ[["origin_topic", "group", "error_class", "dead_letters", "open", "dlt_topics", "last_seen"]],
                 hide_index=True, width="stretch", column_config={
                     "origin_topic": "Origin topic", "group": "Group", "error_class": "Error",
                     "dead_letters": st.column_config.NumberColumn("Dead letters", format="%d"),
                     "open": st.column_config.NumberColumn("Not recovered", format="%d"),
                     "dlt_topics": "Dead-letter topic", "last_seen": st.column_config.DatetimeColumn(
                         "Last (UTC)", format="HH:mm:ss")})
    redrive.panel(ctx.store, ctx.window, df)
    _drill(df)


def _drill(df: pd.DataFrame) -> None:
    st.subheader("Evidence")
    df = df.sort_values(["recovered", "dead_lettered_at"], ascending=[True, False])
    rows = {_key(r): r for r in df.itertuples()}
    key = links.choose("Dead letter", list(rows), param_name="record", key="dl_record",
                       format_func=lambda k: (f"{rows[k].dlt_topic} @{rows[k].dlt_offset} — "
                                              f"{rows[k].error_class or 'no error header'}"
                                              + ("" if rows[k].recovered else " (not recovered)")))
    r = rows[key]
    left, right = st.columns([2, 3])
    with left:
        origin = (f"{md_code(r.origin_topic)} partition {_int(r.origin_partition)} offset {_int(r.origin_offset)}"
                  if r.origin_topic else "unknown")
        st.markdown(
            f"**Origin:** {origin}  \n**Group:** {md(r.group or 'unknown')}  \n"
            f"**Dead-lettered at:** {pd.Timestamp(r.dead_lettered_at):%Y-%m-%d %H:%M:%S} UTC  \n"
            f"**Detected by:** {md(FAMILIES.get(r.family, r.family or 'topic name'))}  \n"
            f"**Event:** {md(r.event_type or '?')} {md_code(r.event_id or 'no id')}  \n"
            f"**Recovered:** " + (f"yes, {md(r.recovered_by)} at {pd.Timestamp(r.recovered_at):%H:%M:%S}"
                                  if r.recovered else "**no** — the origin record was never processed successfully"))
        if r.error_class or r.error_message:
            st.markdown("**Error the consumer gave up with**")
            st.code("\n".join(x for x in (r.error_class, r.error_message) if x), language=None, wrap_lines=True)
        if r.group:
            links.to("redeliveries", f"Redeliveries of group {md(r.group)}", icon=":material/replay:", group=r.group)
    with right:
        st.markdown("**Headers (decoded)**")
        st.dataframe(pd.DataFrame(dl.decode_headers(r.headers), columns=["header", "value"]), hide_index=True,
                     width="stretch", height=min(400, 36 + 35 * max(1, len(dl.decode_headers(r.headers)))))
        st.markdown(f"**Payload** ({_int(r.value_size)} bytes, excerpt)")
        st.code(r.value_excerpt or "(empty)", language="json", wrap_lines=True)


def _int(v) -> str:
    return "?" if v is None or pd.isna(v) else str(int(v))


run(render, title="Dead letters",
    intro="Records consumers gave up on, where they came from, why, and whether they were processed later.")
