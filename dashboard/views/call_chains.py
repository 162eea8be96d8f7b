"""Call chains: how deep synchronous calls go, which entry points are too deep, and one trace's chain."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from dashboard.analyses import call_chains as cc
from dashboard.analyses import latency, sync_coupling
from dashboard.analyses.declared import declared_topology
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.colours import service_colour
from dashboard.charts.labels import esc
from dashboard.charts.latency import percentiles_over_time
from dashboard.charts.series import bars_over_time
from dashboard.charts.units import fmt_ms
from dashboard.charts.waterfall import waterfall
from dashboard.ui import links
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code

TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def render(ctx: Ctx) -> None:
    topo = declared_topology(ctx.cur)
    limit = int(topo.max_sync_depth) if topo is not None else cc.DEFAULT_MAX_SYNC_DEPTH
    by_entry = cc.depth_by_entry(ctx.cur, ctx.window, limit_depth=limit)
    if by_entry.empty:
        empty("No traces in this time range: send OTLP to 'seamwatch up --otlp', or import OTLP JSON files.")
        _drill(ctx, pd.DataFrame(columns=["trace_id", "path", "depth"]))
        return
    over = int(by_entry["over_limit"].sum())
    c = st.columns(4)
    c[0].metric("Deepest chain", f"{int(by_entry['max_depth'].max())} hops", help="Synchronous call-chain depth: "
                "the most service-to-service hops on one request path; an event starts a new chain.")
    c[1].metric("Depth limit", limit, help="max_sync_depth of the declared topology "
                f"({cc.DEFAULT_MAX_SYNC_DEPTH} when none is declared).")
    c[2].metric("Requests over the limit", f"{over:,}")
    c[3].metric("Entry points over the limit", int((by_entry["over_limit"] > 0).sum()))

    deep = cc.segments(ctx.cur, ctx.window, min_depth=limit + 1, limit=100_000)
    bucket = auto_bucket(ctx.window, 40)
    series = (deep.assign(bucket=pd.to_datetime(deep["start_time"]).dt.floor(bucket),
                          entry=deep["entry_service"] + " " + deep["entry_operation"])
              .groupby(["bucket", "entry"]).size().reset_index(name="requests")) if len(deep) else \
        pd.DataFrame(columns=["bucket", "entry", "requests"])
    colours = {esc(f"{s} {o}"): service_colour(s) for s, o in zip(deep["entry_service"], deep["entry_operation"],
                                                                      strict=True)}
    st.plotly_chart(bars_over_time(series, x="bucket", bucket=bucket, x_range=(ctx.window.start, ctx.window.end),
                                   y="requests", color="entry", y_title="requests",
                                   title=f"Requests deeper than {limit} hops, by entry point", colors=colours,
                                   empty=f"No request went deeper than {limit} hops in this time range"),
                    width="stretch", config={"displayModeBar": False})
    st.subheader("Entry points, deepest first")
    st.dataframe(by_entry[["entry_service", "entry_operation", "max_depth", "p95_depth", "over_limit", "segments",
                           "max_fan_out", "p95_latency_ms"]], hide_index=True, width="stretch", column_config={
        "entry_service": "Service", "entry_operation": "Entry", "max_depth": "Max depth", "p95_depth": "p95 depth",
        "over_limit": st.column_config.NumberColumn("Over the limit", format="localized"),
        "segments": st.column_config.NumberColumn("Requests", format="localized"), "max_fan_out": "Max fan-out",
        "p95_latency_ms": st.column_config.NumberColumn(
            "p95 latency (ms)", format="%.0f", help="How long the caller waited: the entry span's duration.")})
    if topo is not None:
        side = sync_coupling.side_effect_calls(ctx.cur, ctx.window,
                                               [n for n, s in topo.services.items() if s.side_effect])
        if len(side):
            st.subheader("Side effects called synchronously")
            st.caption("A user-facing request waits on a service the topology says should react to an event: "
                       "publish an event after the commit and let it react.")
            st.dataframe(side[["entry_service", "entry_operation", "caller", "callee", "operation", "calls",
                               "p95_ms"]], hide_index=True, width="stretch", column_config={
                "entry_service": "Entry service", "entry_operation": "Entry", "caller": "Caller",
                "callee": "Waits on", "operation": "Call", "calls": "Calls",
                "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.0f")})
    _latency(ctx)
    _drill(ctx, cc.worst_chains(ctx.cur, ctx.window, limit=20))


def _latency(ctx: Ctx) -> None:
    """p50/p95/p99 of one entry point over time, and its slowest requests, each opening its trace."""
    st.subheader("Latency over time")
    entries = latency.entry_points(ctx.cur, ctx.window)
    if entries.empty:
        return
    key_of = {f"{r.entry_service} {r.entry_operation}": r for r in entries.itertuples()}
    options = list(key_of)
    service = links.param("service")
    if service and service in set(entries["entry_service"]):  # a node of the graph names a service
        options = [k for k in options if key_of[k].entry_service == service] + \
                  [k for k in options if key_of[k].entry_service != service]
    entry = links.choose("Entry point (user requests first, slowest p95 first)", options, param_name="entry",
                         key="cc_entry", format_func=lambda k: f"{k} — p95 {fmt_ms(key_of[k].p95_ms)}, "
                                                               f"{key_of[k].requests:,} requests")
    e = key_of[entry]
    series = latency.latency_series(ctx.cur, ctx.window, service=e.entry_service, operation=e.entry_operation)
    st.plotly_chart(percentiles_over_time(series, service=e.entry_service,
                                          title=f"Latency of {entry}: p50, p95 and p99 per "
                                                f"{_bucket_words(ctx)}"),
                    width="stretch", config={"displayModeBar": False}, key="cc_latency")
    st.caption("Latency is the entry span's duration: how long the caller waited. A consumer of an event "
               "is an entry point of its own and does not add to the request's latency.")
    slow = latency.slowest(ctx.cur, ctx.window, service=e.entry_service, operation=e.entry_operation, limit=20)
    st.markdown(f"**Slowest requests of {md(entry)}** in this time range")
    slow = slow.assign(services=slow["services"].map(lambda v: ", ".join(v) if v is not None else ""),
                       took=slow["duration_ms"].map(fmt_ms),
                       trace=[links.href("trace", trace=t, span=s) or t
                              for t, s in zip(slow["trace_id"], slow["segment_span_id"], strict=True)])
    st.dataframe(slow[["start_time", "took", "depth", "span_count", "services", "trace"]], hide_index=True,
                 width="stretch", column_config={
                     "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                     "took": "Duration", "depth": st.column_config.NumberColumn("Depth (hops)", format="%d"),
                     "span_count": st.column_config.NumberColumn("Spans", format="localized"),
                     "services": st.column_config.TextColumn("Services", width="large"),
                     "trace": st.column_config.LinkColumn("Trace", display_text=r"trace=([0-9a-f]{12})")})
    if not slow.empty:  # the usual next step, as a link that opens in place (a table's link opens a new tab)
        top = slow.iloc[0]
        hops = f", {int(top['depth'])} hops deep" if pd.notna(top["depth"]) else ""
        links.to("trace", f"Open the slowest request's trace ({md(top['took'])}{hops})",
                 icon=":material/timeline:", trace=top["trace_id"], span=top["segment_span_id"])


def _bucket_words(ctx: Ctx) -> str:
    """'1-min bucket', '10-s bucket': the width each point of the latency chart covers."""
    sec = int(auto_bucket(ctx.window).total_seconds())
    width = f"{sec} s" if sec < 60 else f"{sec // 60} min" if sec < 3600 else f"{sec // 3600} h"
    return f"{width} bucket".replace(" ", "-", 1)


def _drill(ctx: Ctx, worst: pd.DataFrame) -> None:
    st.subheader("Evidence")
    paths = {r.trace_id: f"{r.depth} hops: {r.path}" for r in worst.itertuples()}
    entry = {r.trace_id: r.segment_span_id for r in worst.itertuples()}
    options = list(paths)
    wanted = links.param("trace")
    if wanted and wanted not in paths:  # a pasted link may name any trace, not only the deepest
        if TRACE_ID.fullmatch(wanted):
            options.insert(0, wanted)
        else:  # never shown as given: a crafted link must not put its words on the page as ours
            st.warning(f"The link's trace {md_code(wanted[:80])} is not a trace id (32 hexadecimal digits); "
                       "showing the deepest traces instead.", icon=":material/link_off:")
            links.set_param("trace", None)
    trace = links.choose("Trace (deepest first)", options, param_name="trace", key="cc_trace",
                         format_func=lambda t: f"{t[:12]} — {paths.get(t, 'linked trace')}")
    if trace is None:
        return
    spans = cc.trace_chain(ctx.cur, trace)
    if spans.empty:
        empty(f"Trace {md_code(trace)} is not in the store.")
        return
    if trace in paths:
        st.markdown(f"**Deepest path:** {md(paths[trace])}")
    segments = spans["segment_span_id"].dropna().unique()
    # The deepest segment by default: later consumer segments would squeeze it into a sliver.
    seg = entry.get(trace) or (spans.loc[spans["depth"].idxmax(), "segment_span_id"] if spans["depth"].notna().any()
                               else None)
    whole = len(segments) <= 1 or st.toggle(f"Whole trace ({len(segments)} segments: the request and the "
                                            "consumers that reacted to its events)", key="cc_whole")
    shown = spans if whole or seg is None else spans[spans["segment_span_id"] == seg]
    hops = set(shown.loc[shown["role"].isin(["hop"]) | shown["starts_segment"].fillna(False), "span_id"])
    st.caption(f"{len(shown)} of {len(spans)} spans, {shown['service'].nunique()} services. Strong bars are the "
               "synchronous hops and segment entries; an event (a consumer span) starts a new segment.")
    st.plotly_chart(waterfall(shown, highlight=hops, since="the trace started" if whole else "the segment started"),
                    width="stretch", config={"displayModeBar": False})
    links.to("trace", "Open this trace in the Trace view (span attributes, events, producers and consumers)",
             icon=":material/timeline:", trace=trace, span=seg if not whole and seg else None)


run(render, title="Call chains",
    intro="An API is for asking now; a long chain of synchronous calls is a smell. Depth counts service hops.")
