"""Event lag: who is behind, by how much (messages and seconds), and since when (Burrow status)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analyses import burrow, lag
from dashboard.charts.series import lines_over_time
from dashboard.charts.status import status_strip
from dashboard.charts.units import axis_unit, fmt_ms
from dashboard.ui import links, numbers
from dashboard.ui.page import Ctx, empty, fmt_age, run
from dashboard.ui.text import md, md_code

_RANK = {s: i for i, s in enumerate(("OK", "WARN", "ERR"))}
CHART_GROUPS = 25  # groups charted at once, worst first; the table lists them all
METHOD_WORDS = {"exact": "exact (record at the committed offset)", "interpolated": "interpolated",
                "extrapolated": "extrapolated", "caught_up": "caught up", "too_few_points": "not enough points yet"}


def _groups(ctx: Ctx) -> pd.DataFrame:
    gs = burrow.group_statuses(ctx.cur, ctx.window)
    tl = lag.time_lag_latest(ctx.cur, ctx.window)
    e2e = lag.trace_lag_summary(ctx.cur, ctx.window)
    if not tl.empty:
        worst_t = tl.groupby("group_id")["time_lag_s"].max().rename("time_lag_s")
        gs = gs.merge(worst_t, left_on="group_id", right_index=True, how="left")
    else:
        gs["time_lag_s"] = None
    if not e2e.empty:
        p95 = (e2e.groupby("consumer_group")["p95_ms"].max() / 1000).rename("p95_e2e_s")
        gs = gs.merge(p95, left_on="group_id", right_index=True, how="left")
    else:
        gs["p95_e2e_s"] = None
    gs["rank"] = gs["status"].map(_RANK).fillna(3)
    return gs.sort_values(["rank", "total_lag"], ascending=False).drop(columns=["rank"])


def _duration_column(df: pd.DataFrame, column: str, title: str, help: str | None = None) -> dict:  # noqa: A002
    """Seconds shown in one unit for the whole column (s, min or h, named in the header), in place;
    '–' where there is no value, never 'None'."""
    unit = numbers.unit_for(df[column])
    df[column] = [numbers.MISSING if (v := numbers.in_unit(s, unit)) is None else f"{v:,.1f}" for s in df[column]]
    return {column: st.column_config.TextColumn(f"{title} ({unit})", help=help)}


def render(ctx: Ctx) -> None:
    groups = _groups(ctx)
    if groups.empty:
        empty("No consumer-group offsets in this time range: the lag poller ('seamwatch up --bootstrap …') "
              "records them, or import offset snapshot files.")
        return
    bad = groups[groups["status"] != "OK"]
    c = st.columns(4)
    c[0].metric("Groups not OK", f"{len(bad):,} of {len(groups):,}", help="Burrow's rules over the last 10 commits.")
    c[1].metric("Messages behind", f"{int(groups['total_lag'].sum()):,}", help="Offset lag summed over all groups.")
    worst_t = groups["time_lag_s"].max()
    # a group behind whose time lag cannot be told yet may be the longest: no "0 s" beside it
    untold = int((groups["total_lag"].fillna(0).gt(0) & groups["time_lag_s"].isna()).sum())
    c[2].metric("Longest time lag", "unknown" if untold else fmt_age(worst_t) if pd.notna(worst_t) else "–",
                help="How old the oldest unprocessed message is, for the worst partition."
                     + (f" Unknown: {untold:,} group{'s' if untold != 1 else ''} behind without enough "
                        "end-offset points to tell how old their oldest message is." if untold else ""))
    p95 = groups["p95_e2e_s"].max()
    # ms below two seconds: end-to-end lag is often under a second, which an age in whole seconds read as "0 s"
    c[3].metric("Worst p95 end-to-end", fmt_ms(p95 * 1000) if pd.notna(p95) else "–",
                help="Producer start to consumer start, from traces.")

    over = burrow.group_status_over_time(ctx.cur, ctx.window)
    if len(groups) > CHART_GROUPS:  # a cluster's hundreds of groups would be a wall of squares and lines
        over = over[over["group_id"].isin(groups["group_id"].head(CHART_GROUPS))]
        st.caption(f"Charted: the {CHART_GROUPS} worst of {len(groups):,} consumer groups (by status, then "
                   "messages behind). The table below lists every group.")
    st.plotly_chart(status_strip(over, title="Burrow status per consumer group"), width="stretch", config={"displayModeBar": False})
    st.plotly_chart(lines_over_time(over, x="at", y="lag", color="group_id", y_title="messages behind",
                                    title="Offset lag per consumer group", integer=True),
                    width="stretch", config={"displayModeBar": False})
    st.subheader("Consumer groups, worst first")
    # formatted in place before the columns are taken: a copy taken first kept raw seconds (and
    # None) under a header naming the unit, min or h
    durations = {**_duration_column(groups, "time_lag_s", "Time lag"),
                 **_duration_column(groups, "p95_e2e_s", "p95 end-to-end")}
    st.dataframe(groups[["group_id", "status", "worst_partition_status", "total_lag", "time_lag_s", "p95_e2e_s",
                         "non_ok_partitions", "partitions"]], hide_index=True, width="stretch", column_config={
        "group_id": "Consumer group", "status": "Status", "worst_partition_status": "Worst partition",
        "total_lag": st.column_config.NumberColumn("Messages behind", format="localized"), **durations,
        "non_ok_partitions": "Partitions not OK", "partitions": "Partitions"})
    _drill(ctx, list(groups["group_id"]))


def _drill(ctx: Ctx, groups: list[str]) -> None:
    st.subheader("Evidence")
    grp = links.choose("Consumer group", groups, param_name="group", key="lag_group")
    parts = burrow.partition_status(ctx.cur, ctx.window, group=grp)
    tl = lag.time_lag_latest(ctx.cur, ctx.window, group=grp)[["cluster", "topic", "partition", "time_lag_s", "method"]]
    parts = parts.merge(tl, on=["cluster", "topic", "partition"], how="left")
    parts["method"] = parts["method"].map(lambda m: METHOD_WORDS.get(m, m))
    parts["window_lags"] = parts["window_lags"].map(lambda v: list(v) if v is not None else [])
    parts["method"] = parts["method"].map(numbers.text)
    # how long the oldest unread record is still kept: retention, less the time lag (LAG_NEAR_RETENTION)
    kept = lag.retention(ctx.cur)[["cluster", "topic", "retention_s"]]
    parts = parts.merge(kept, on=["cluster", "topic"], how="left")
    parts["retention_left_s"] = lag.kept_for(parts["retention_s"], parts["time_lag_s"])
    time_lag = _duration_column(parts, "time_lag_s", "Time lag")
    left = _duration_column(parts, "retention_left_s", "Kept for", help=(
        "How long the oldest record the group has not read is still kept: the topic's retention.ms less the "
        "time lag ('–': kept forever, or not known)."))
    st.dataframe(parts[["topic", "partition", "status", "current_lag", "time_lag_s", "retention_left_s", "method",
                        "window_lags", "last_commit"]], hide_index=True, width="stretch", column_config={
        "topic": "Topic", "partition": "Partition", "status": "Status",
        "current_lag": st.column_config.NumberColumn("Messages behind", format="localized"),
        **time_lag, **left, "method": "Time lag method",
        # green unless the lag rose over the window (the primary colour, red, read as an alarm at zero)
        "window_lags": st.column_config.LineChartColumn(
            "Lag at the last 10 commits", y_min=0, color="auto-inverse",
            help="Messages behind at each of the partition's last 10 commits: red when it rose."),
        "last_commit": st.column_config.DatetimeColumn("Last commit (UTC)", format="HH:mm:ss")})
    _stuck(ctx, grp)
    trend = lag.trace_lag(ctx.cur, ctx.window, group=grp)
    if not trend.empty:
        # ms below two seconds, as every duration axis: at one decimal of a second, a p95 of 0.3–0.45 s
        # read "0.4, 0.4, 0.3, 0.3" down the axis
        unit, div, tick = axis_unit(float(trend["p95_ms"].max()))
        trend = trend.assign(p95=trend["p95_ms"] / div)
        st.plotly_chart(lines_over_time(trend, x="bucket", y="p95", color="topic", y_title=f"p95 end-to-end lag ({unit})",
                                        title=f"p95 end-to-end lag of {grp}, per topic", y_format=tick,
                                        x_range=(ctx.window.start, ctx.window.end)),
                        width="stretch", config={"displayModeBar": False})
    slow = lag.lagged_messages(ctx.cur, ctx.window, group=grp, limit=20)
    if not slow.empty:
        st.markdown("**Slowest messages** (producer start → consumer start)")
        slow = slow.assign(lag_s=slow["lag_e2e_us"] / 1e6,
                           # the consumer's span: the trace opens at the consumer's segment, not the request's
                           trace=[links.href("trace", trace=t, span=s) or t
                                  for t, s in zip(slow["consumer_trace_id"], slow["consumer_span_id"], strict=True)],
                           record=[links.record_href(t, p, o) for t, p, o in
                                   zip(slow["topic"], slow["partition"], slow["offset"], strict=True)])
        st.dataframe(slow[["topic", "partition", "offset", "record", "lag_s", "producer_service", "producer_start",
                           "pairing", "clock_skew", "trace"]], hide_index=True, width="stretch", column_config={
            "record": st.column_config.LinkColumn("Record", display_text=r"record=([^&]+)"),
            "topic": "Topic", "partition": "Partition", "offset": "Offset", "producer_service": "Producer",
            "lag_s": st.column_config.NumberColumn("Lag (s)", format="%.1f"),
            "producer_start": st.column_config.DatetimeColumn("Produced (UTC)", format="HH:mm:ss"),
            "pairing": "Paired by", "clock_skew": "Clock skew",
            "trace": st.column_config.LinkColumn("Consumer trace", display_text=r"trace=([0-9a-f]{8})")})


def _record_key(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{int(partition)}/{int(offset)}"


def _stuck(ctx: Ctx, grp: str | None) -> None:
    """Each partition that is not OK: where it stands, the record it has to process next, and why."""
    stuck = lag.stuck_partitions(ctx.cur, ctx.window, group=grp)
    if stuck.empty:
        return
    st.markdown("**Partitions not OK**: the committed offset they stand at is the next record to process")
    has_offset = stuck["committed_offset"].notna()
    stuck["record"] = [
        links.record_href(t, p, o) if ok else None
        for t, p, o, ok in zip(stuck["topic"], stuck["partition"], stuck["committed_offset"], has_offset, strict=True)]
    st.dataframe(stuck[["topic", "partition", "status", "committed_offset", "record", "last_commit", "current_lag",
                        "reason"]], hide_index=True, width="stretch", column_config={
        "topic": "Topic", "partition": "Partition", "status": "Status",
        "committed_offset": st.column_config.NumberColumn("Stuck at offset", format="%d"),
        "record": st.column_config.LinkColumn("Record at that offset", display_text=r"record=([^&]+)"),
        "last_commit": st.column_config.DatetimeColumn("Last commit (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "current_lag": st.column_config.NumberColumn("Messages behind", format="localized"),
        "reason": st.column_config.TextColumn("Why not OK", width="large")})
    keys = [_record_key(t, p, o) for t, p, o, ok in zip(stuck["topic"], stuck["partition"], stuck["committed_offset"],
                                                        has_offset, strict=True) if ok]
    if not keys:
        return
    key = links.choose("Record a partition is stuck at (topic / partition / offset)", keys, param_name="record",
                       key="lag_record")
    topic, partition, offset = key.rsplit("/", 2)
    rec = lag.record_at(ctx.cur, topic, int(partition), int(offset))
    if rec is None:
        st.caption(f"The tap holds no record at {md(key)}: it was not tapped (a topic left out, or before the "
                   "tap started), or no message has been written there yet.")
        return
    when = pd.Timestamp(rec["timestamp"]).strftime("%Y-%m-%d %H:%M:%S") if pd.notna(rec["timestamp"]) else "?"
    st.markdown(f"**Key:** {md_code(rec['key'])}  \n**Produced:** {when} UTC  \n"
                f"**Event:** {md(rec['event_type'] or '?')} {md_code(rec['event_id'] or 'no id')}  \n"
                + (f"**Size:** {rec['value_size']:,} bytes" if pd.notna(rec["value_size"]) else "**Value:** null"))
    links.to("records", f"Open the record {md(key)}: its headers, processings and copies",
             icon=":material/manage_search:", record=key)
    if rec["trace_id"]:
        links.to("trace", f"Trace {rec['trace_id'][:8]} of this record", icon=":material/timeline:",
                 trace=rec["trace_id"])
    st.code(rec["value_excerpt"] or "(empty)", language="json", wrap_lines=True)


run(render, title="Event lag",
    intro="How far each consumer group is behind, in messages and in time, judged by Burrow's rules.")
