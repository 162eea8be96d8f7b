"""Dead letters: what was given up on, by origin, group and error, and whether it recovered."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from collectors.normalize.header_values import readable_headers
from dashboard.analyses import dead_letters as dl
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.series import bars_over_time
from dashboard.findings.model import plural
from dashboard.ui import links, numbers, redrive
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code

FAMILIES = {"spring-dlt": "Spring DeadLetterPublishingRecoverer headers", "spring-retry": "Spring @RetryableTopic headers",
            "spring-cloud-stream": "Spring Cloud Stream headers", "connect": "Kafka Connect error headers",
            "topic-pattern": "the topic's name"}


def _key(r) -> str:
    return f"{r.dlt_topic}/{r.dlt_partition}/{r.dlt_offset}"


def _topic(df: pd.DataFrame) -> str | None:
    """The topic a link names (``topic=``), dead-letter or origin; '' is every topic."""
    topics = sorted({t for t in (*df["dlt_topic"], *df["origin_topic"]) if isinstance(t, str)}) if len(df) else []
    chosen = links.choose("Topic (dead-letter or origin)", ["", *topics], param_name="topic", key="dl_topic",
                          format_func=lambda t: t or "every topic")
    return chosen or None


def render(ctx: Ctx) -> None:
    every = dl.dead_letters(ctx.cur, ctx.window)
    topic = _topic(every)
    df = dl.on_topic(every, topic)
    unrecovered = int((~df["recovered"].astype(bool)).sum()) if len(df) else 0
    c = st.columns(5)
    c[0].metric("Dead letters", f"{len(df):,}")
    c[1].metric("Not recovered", f"{unrecovered:,}",
                help="Neither reprocessed by the origin group nor republished on the origin topic since.")
    c[2].metric("Origin topics", f"{df['origin_topic'].nunique():,}" if len(df) else "0")
    c[3].metric("Groups", f"{df['group'].nunique():,}" if len(df) else "0")
    c[4].metric("Error kinds", f"{df['error_class'].nunique():,}" if len(df) else "0")

    bucket = auto_bucket(ctx.window, 40)
    st.plotly_chart(bars_over_time(dl.over_time(ctx.cur, ctx.window, bucket=bucket, topic=topic), bucket=bucket,
                                   x_range=(ctx.window.start, ctx.window.end),
                                   x="bucket", y="dead_letters", color="origin_topic", y_title="dead letters",
                                   title="Dead letters over time, by origin topic",
                                   empty="No dead letters in this time range"),
                    width="stretch", config={"displayModeBar": False})
    if df.empty:
        empty(f"No dead letter on or from {md_code(topic)} in this time range." if topic and len(every) else
              md("No record landed in a dead-letter topic in this time range "
                 "(topics *.DLT, *-dlt, *.DLQ, *-dlq, error.*.*, or Spring / Kafka Connect error headers)."))
        return
    st.subheader("By origin, group and error")
    summ = dl.summarise(df)
    summ["open"] = summ["dead_letters"] - summ["recovered"]
    summ = summ.sort_values(["open", "dead_letters"], ascending=False)
    summ["dlt_topics"] = summ["dlt_topics"].map(", ".join)
    for column in ("origin_topic", "group", "error_class"):  # a missing header reads "–", never "None"
        summ[column] = summ[column].map(numbers.text)
    st.dataframe(summ[["origin_topic", "group", "error_class", "dead_letters", "open", "dlt_topics", "last_seen"]],
                 hide_index=True, width="stretch", column_config={
                     "origin_topic": "Origin topic", "group": "Group", "error_class": "Error",
                     "dead_letters": st.column_config.NumberColumn("Dead letters", format="localized"),
                     "open": st.column_config.NumberColumn("Not recovered", format="localized"),
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
        links.to("records", "Open this dead letter", icon=":material/manage_search:",
                 record=f"{r.dlt_topic}/{int(r.dlt_partition)}/{int(r.dlt_offset)}")
        if r.origin_topic and pd.notna(r.origin_partition) and pd.notna(r.origin_offset):
            links.to("records", f"Open the origin record {md(r.origin_topic)} @{int(r.origin_offset)}",
                     icon=":material/manage_search:",
                     record=f"{r.origin_topic}/{int(r.origin_partition)}/{int(r.origin_offset)}")
        if r.group:
            links.to("redeliveries", f"Redeliveries of group {md(r.group)}", icon=":material/replay:", group=r.group)
    with right:
        st.markdown("**Headers (decoded)**")
        headers = readable_headers(r.headers)
        st.dataframe(pd.DataFrame(headers, columns=["header", "value"]), hide_index=True,
                     width="stretch", height=min(400, 36 + 35 * max(1, len(headers))))
        size = None if r.value_size is None or pd.isna(r.value_size) else int(r.value_size)
        st.markdown(f"**Payload** ({'size unknown' if size is None else 'no value' if size < 0 else plural(size, 'byte')}"
                    ", excerpt)")
        st.code(r.value_excerpt or "(empty)", language="json", wrap_lines=True)


def _int(v) -> str:
    return "?" if v is None or pd.isna(v) else f"{int(v):,}"


run(render, title="Dead letters",
    intro="Records consumers gave up on, where they came from, why, and whether they were processed later.")
