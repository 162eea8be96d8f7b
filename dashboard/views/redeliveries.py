"""Redeliveries: records a group processed more than once, why, and every processing of one."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.analyses import records as recs
from dashboard.analyses import redeliveries as red
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.series import bars_over_time
from dashboard.charts.timeline import processings_timeline
from dashboard.findings.model import plural
from dashboard.ui import links
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.record_evidence import about, published_by
from dashboard.ui.text import md, md_code

CAUSE_WORDS = {
    "restart_rebalance": "restart or rebalance", "blocking_retry": "blocking retry", "retry_topic": "retry topic",
    "offset_reset": "offset reset", "unknown": "unknown",
}


def _by_group(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for grp, part in df.groupby("group", sort=False):
        causes = part["cause"].value_counts()
        rows.append({"group": grp, "records": len(part), "extra": int((part["processings"] - 1).sum()),
                     "cause": CAUSE_WORDS.get(causes.index[0], causes.index[0]),
                     "topics": ", ".join(sorted(part["topic"].unique())),
                     "last": part["last_processed"].max()})
    return pd.DataFrame(rows).sort_values(["extra", "records"], ascending=False)


def render(ctx: Ctx) -> None:
    df = red.redeliveries(ctx.cur, ctx.window)
    bucket = auto_bucket(ctx.window, 40)
    rate = red.redelivery_rate(ctx.cur, ctx.window, bucket=bucket)
    dups = red.duplicate_publications(ctx.cur, ctx.window)
    processed, again = int(rate["processings"].sum()), int(rate["redeliveries"].sum())
    c = st.columns(5)
    c[0].metric("Redelivered records", f"{len(df):,}")
    c[1].metric("Extra processings", f"{int((df['processings'] - 1).sum()) if len(df) else 0:,}")
    c[2].metric("Redelivery rate", f"{again / processed:.1%}" if processed else "–",
                help="Processings that were a second (or later) delivery, of all processings.")
    c[3].metric("Groups affected", f"{df['group'].nunique() if len(df) else 0:,}")
    c[4].metric("Duplicate publications", f"{len(dups):,}",
                help="One event id at more than one offset of a topic, or in the topic and in the topic created again.")

    st.plotly_chart(bars_over_time(rate, x="bucket", bucket=bucket, x_range=(ctx.window.start, ctx.window.end),

                                   y="redeliveries", color="group", y_title="redeliveries",
                                   title="Redeliveries over time, by consumer group",
                                   empty="No redeliveries in this time range"),
                    width="stretch", config={"displayModeBar": False})
    if df.empty:
        empty("No record was processed twice by the same group in this time range.")
    else:
        st.subheader("Worst groups")
        by_group = _by_group(df)
        st.dataframe(by_group, hide_index=True, width="stretch", column_config={
            "group": "Consumer group", "records": st.column_config.NumberColumn("Redelivered records", format="%d"),
            "extra": st.column_config.NumberColumn("Extra processings", format="%d"), "cause": "Main cause",
            "topics": "Topics", "last": st.column_config.DatetimeColumn("Last (UTC)", format="HH:mm:ss")})
        _drill(ctx, df, list(by_group["group"]))
    if len(dups):
        st.subheader("Events published more than once")
        st.caption("The same event id at several offsets, or again in its topic created again: a producer retry "
                   "without idempotence, an outbox relay publishing twice, or a replay. A different payload under "
                   "one id is an id collision.")
        recreated = recs.recreated_topics(ctx.cur)  # their first copy may be an older topic's record
        dups["record"] = [_first_copy(ctx, c, t, locs, t in recreated) if len(locs) else None
                          for c, t, locs in zip(dups["cluster"], dups["topic"], dups["locations"], strict=True)]
        st.dataframe(dups[["kind", "topic", "event_id", "copies", "payloads", "first_seen", "record"]],
                     hide_index=True, width="stretch", column_config={
                         "kind": "Kind", "topic": "Topic", "event_id": "Event id", "copies": "Copies",
                         "payloads": "Distinct payloads",
                         "record": st.column_config.LinkColumn("First copy (its detail lists the others)",
                                                               display_text=r"record=([^&]+)"),
                         "first_seen": st.column_config.DatetimeColumn("First seen (UTC)", format="HH:mm:ss")})


def _first_copy(ctx: Ctx, cluster: str, topic: str, locations: list, recreated: bool) -> str | None:
    """A link to the Records page on the first copy of a published event, of its own topic generation."""
    first = locations[0]
    older = (recs.nth_at(ctx.cur, topic, first["partition"], first["offset"], first["tapped_at"], cluster=cluster)
             if recreated else 0)
    return links.record_href(topic, first["partition"], first["offset"], generation=older or None)


def _label(key: str, r: Any) -> str:
    """'orders p0 @7 — 3× (crash-looping)', and when the topic was created again if it was."""
    again = key.partition(" (")[2]
    return (f"{r.topic} p{r.partition} @{r.offset}" + (f" ({again}" if again else "")
            + f" — {r.processings}× ({CAUSE_WORDS.get(r.cause, r.cause)})")


def _drill(ctx: Ctx, df: pd.DataFrame, groups: list[str]) -> None:
    st.subheader("Evidence")
    left, right = st.columns(2)
    with left:
        grp = links.choose("Consumer group", groups, param_name="group", key="red_group")
    part = df[df["group"] == grp].sort_values(["processings", "first_processed"], ascending=[False, True])
    # a position of a topic created again names a record in each generation: each is an option of its own
    rows = {red.record_label(r.topic, r.partition, r.offset, r.generation): r for r in part.itertuples()}
    with right:
        key = links.choose("Record (topic / partition / offset)", list(rows), param_name="record", key="red_record",
                           format_func=lambda k: _label(k, rows[k]))
    if not key:
        return
    r = rows[key]
    topic, partition, offset = r.topic, int(r.partition), int(r.offset)
    procs = red.processings_of(ctx.cur, ctx.window, group=grp, topic=topic, partition=partition, offset=offset,
                               generation=None if pd.isna(r.generation) else pd.Timestamp(r.generation).to_pydatetime())
    if procs.empty:
        empty("The processings of this record are outside the time range.")
        return
    procs = procs.assign(instance=procs["service_instance"].fillna(procs["client_id"]),
                         failed=procs["status_code"] == 2,
                         what=procs["status_message"].fillna("").where(procs["status_code"] == 2, "ok"))
    st.markdown(f"**{plural(len(procs), 'processing')}** of {md_code(topic)} partition {md(partition)} offset {md(offset)} by "
                f"**{md(grp)}**, "
                f"on {plural(procs['instance'].nunique(), 'instance')}.")
    rec = about(ctx.cur, topic, [(partition, offset)], at=pd.Timestamp(procs["start_time"].min()).to_pydatetime())
    st.plotly_chart(processings_timeline(procs, label="what"), width="stretch", config={"displayModeBar": False})
    procs["trace"] = [links.href("trace", trace=t, span=s) or t
                      for t, s in zip(procs["trace_id"], procs["span_id"], strict=True)]
    cols = ["start_time", "instance", "failed", "what", "delivery_attempt", "via_topic", "duration_us", "trace"]
    if procs["delivery_attempt"].isna().all():  # no delivery-attempt header: a column of blanks says nothing
        cols.remove("delivery_attempt")
    st.dataframe(procs[cols], hide_index=True, width="stretch", column_config={
        "start_time": st.column_config.DatetimeColumn("At (UTC)", format="HH:mm:ss.SSS"),
        "instance": "Instance", "failed": "Failed", "what": "Outcome", "delivery_attempt": "Attempt",
        "via_topic": "Read from", "duration_us": st.column_config.NumberColumn("Duration (µs)", format="%d"),
        "trace": st.column_config.LinkColumn("Trace", display_text=r"trace=([0-9a-f]{8})"),
    })
    if rec is not None:
        published_by(ctx.cur, rec, grp)


run(render, title="Redeliveries",
    intro="The same record processed more than once by one consumer group, and why: restarts, retries, resets.")
