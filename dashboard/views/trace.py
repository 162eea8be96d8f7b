"""Trace: one trace as a waterfall, a span's attributes, status and events, and the traces its
messages came from and went to.

Deep link: ``?trace=<32 hex>&span=<16 hex>`` opens the trace at the segment holding that span,
with the span's detail shown. A click on a bar (or the Span list) chooses another span, and
the address bar follows, so it is always a link to what is on screen.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import streamlit as st

from dashboard.analyses import call_chains as cc
from dashboard.analyses import latency, traces
from dashboard.charts.units import fmt_ms
from dashboard.charts.waterfall import tree_order, waterfall
from dashboard.ui import links
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code

TRACE_ID = re.compile(r"[0-9a-f]{32}")
WHOLE = "whole trace"
CAUSE_WORDS = {"root": "request", "consumer": "consumer", "after_producer": "after a send", "orphan": "orphan"}


def render(ctx: Ctx) -> None:
    trace = _choose_trace(ctx)
    if trace is None:
        return
    spans = cc.trace_chain(ctx.cur, trace)
    if spans.empty:
        empty(f"Trace {md_code(trace)} is not in the store (not ingested, or removed by retention).")
        return
    _summary(spans)
    seg = _choose_segment(trace, spans)
    shown = spans if seg == WHOLE else spans[spans["segment_span_id"] == seg]
    order = [sid for sid, _ in tree_order(shown)]
    chart_key = f"trace_wf_{trace}_{seg}"
    _take_click(chart_key)
    names = dict(zip(spans["span_id"], spans["service"].fillna("?") + " · " + spans["name"].fillna("?"),
                     strict=True))
    took = dict(zip(spans["span_id"], spans["duration_ms"], strict=True))
    span = links.choose("Span", order, param_name="span", key=f"trace_span_{trace}_{seg}",
                        format_func=lambda s: f"{names.get(s, s)} ({fmt_ms(took.get(s))})",
                        help="Click a bar of the waterfall, or pick a span here.")
    since = "the trace started" if seg == WHOLE else "the segment started"
    st.caption(f"{len(shown)} of {len(spans)} spans, one colour per service; a red outline is an error. "
               "Click a bar for its attributes, status and events.")
    st.plotly_chart(waterfall(shown, selected=span, since=since), width="stretch",
                    config={"displayModeBar": False}, on_select="rerun", selection_mode="points", key=chart_key)
    if span:
        _detail(ctx, trace, span, spans)
    _messages(ctx, trace, spans)


def _choose_trace(ctx: Ctx) -> str | None:
    """The linked trace, or one of the window's slowest requests."""
    slow = latency.slowest(ctx.cur, ctx.window, limit=30)
    label: dict[str, str] = {}
    seg_for: dict[str, str] = {}
    for r in slow.itertuples():  # slowest first: a trace is listed for its slowest segment
        label.setdefault(r.trace_id, f"{fmt_ms(r.duration_ms)} · {r.entry_service} {r.entry_operation}")
        seg_for.setdefault(r.trace_id, r.segment_span_id)
    options = list(dict.fromkeys(label))
    wanted = links.param("trace")
    if wanted and wanted not in label:
        if TRACE_ID.fullmatch(wanted):
            options.insert(0, wanted)  # a pasted link may name any trace, not only the slowest
        else:  # never shown as given: a crafted link must not put its words on the page as ours
            st.warning(f"The link's trace {md_code(wanted[:80])} is not a trace id (32 lowercase hexadecimal "
                       "digits); showing the slowest requests instead.", icon=":material/link_off:")
            links.set_param("trace", None)
            links.set_param("span", None)
    if not options:
        empty("No traces in this time range: widen it, or open a trace from a link on another page.")
        return None
    linked = links.param("trace")
    trace = links.choose("Trace (the slowest requests of the time range first)", options, param_name="trace",
                         key="trace_id", format_func=lambda t: f"{t[:12]} — {label.get(t, 'linked trace')}")
    if trace != linked or (links.param("span") is None and trace in seg_for):
        # Chosen from the list, not linked: open at the segment that made it slow.
        links.set_param("span", seg_for.get(trace))
    return trace


def _summary(spans: pd.DataFrame) -> None:
    start = pd.to_datetime(spans["start_time"]).min()
    end = pd.to_datetime(spans["end_time"]).max()
    c = st.columns(5)
    c[0].metric("Duration", fmt_ms((end - start).total_seconds() * 1000), help="First span's start to last span's end.")
    c[1].metric("Spans", f"{len(spans):,}")
    c[2].metric("Services", spans["service"].nunique())
    c[3].metric("Segments", spans["segment_span_id"].nunique(),
                help="Synchronous segments: the request, and each consumer that reacted to its events.")
    c[4].metric("Errors", int(spans["error"].fillna(False).sum()))


def _choose_segment(trace: str, spans: pd.DataFrame) -> str:
    """The segment to draw: the linked span's, else the one chosen before, else the request's."""
    entries = spans[spans["span_id"] == spans["segment_span_id"]].sort_values("start_time")
    label = {r.span_id: f"{r.service} · {r.name} ({CAUSE_WORDS.get(r.segment_cause, r.segment_cause or '?')})"
             for r in entries.itertuples()}
    options = [*label, WHOLE] if len(label) > 1 else (list(label) or [WHOLE])
    seg_of = dict(zip(spans["span_id"], spans["segment_span_id"], strict=True))
    wanted = links.param("span")
    key, seen = f"trace_segment_{trace}", f"_trace_segment_for_{trace}"
    if wanted in seg_of and st.session_state.get(seen) != wanted:
        # A link (or a click) names a span: open at its segment, unless the whole trace is shown.
        if st.session_state.get(key) != WHOLE:
            st.session_state[key] = seg_of[wanted] if seg_of[wanted] in options else WHOLE
    elif st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    seg = st.selectbox("Segment", options, key=key, format_func=lambda s: label.get(s, s),
                       help="A trace is cut into synchronous segments where work turns asynchronous: "
                            "each consumer of an event starts its own.")
    if seg != WHOLE and seg_of.get(wanted) != seg:
        links.set_param("span", seg)  # another segment chosen: its entry span is the one shown
        wanted = seg
    st.session_state[seen] = wanted
    return seg


def _take_click(chart_key: str) -> None:
    """A bar clicked since the last run names the span to show (customdata[0] is its id)."""
    event = st.session_state.get(chart_key)
    points = (event or {}).get("selection", {}).get("points") or []
    clicked = next((p["customdata"][0] for p in points if p.get("customdata")), None)
    if clicked and st.session_state.get(f"_{chart_key}_click") != clicked:
        st.session_state[f"_{chart_key}_click"] = clicked
        links.set_param("span", clicked)


def _detail(ctx: Ctx, trace: str, span: str, spans: pd.DataFrame) -> None:
    d = traces.span_detail(ctx.cur, trace, span)
    if d is None:
        return
    st.subheader(f"{md(d['service'])} · {md(d['name'])}")
    status = d["status"] + (f": {d['status_message']}" if d.get("status_message") else "")
    facts = [("Kind", (d["kind"] or "?").lower()), ("Status", status), ("Duration", fmt_ms(d["duration_ms"])),
             ("Started (UTC)", pd.Timestamp(d["start_time"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]),
             ("Instance", d.get("service_instance") or "–"), ("Span id", d["span_id"])]
    cols = st.columns(len(facts))
    for col, (name, value) in zip(cols, facts, strict=True):
        col.markdown(f"**{name}**  \n{md(value) if name != 'Span id' else md_code(value)}")
    if d["status"] == "error":
        st.error(f"This span ended in error{': ' + md(d['status_message']) if d.get('status_message') else ''}.",
                 icon=":material/error:")
    parent = d.get("parent_span_id")
    if parent and parent in set(spans["span_id"]):
        links.jump("Its parent span", key="trace_parent", icon=":material/north_west:", trace=trace, span=parent)
    _hops(ctx, trace, span)
    left, right = st.columns(2)
    with left:
        st.markdown("**Attributes**")
        _kv(d["attributes"], "No attributes.")
        st.markdown("**Resource**")
        _kv(d["resource"], "No resource attributes.")
    with right:
        st.markdown(f"**Events** ({len(d['events'])})")
        if d["events"]:
            st.dataframe(pd.DataFrame([{"at": fmt_ms(e["offset_ms"]), "name": e["name"],
                                        "attributes": _text(e["attributes"])} for e in d["events"]]),
                         hide_index=True, width="stretch", column_config={
                             "at": st.column_config.TextColumn("At (since the span started)", width="small"),
                             "name": "Event", "attributes": st.column_config.TextColumn("Attributes", width="large")})
        else:
            st.caption("No events.")
        st.markdown(f"**Links** ({len(d['links'])})")
        if d["links"]:
            st.dataframe(pd.DataFrame([{"trace": links.href("trace", trace=ln["trace_id"], span=ln["span_id"]),
                                        "span": ln["span_id"], "attributes": _text(ln["attributes"])}
                                       for ln in d["links"]]), hide_index=True, width="stretch", column_config={
                "trace": st.column_config.LinkColumn("Linked trace", display_text=r"trace=([0-9a-f]{12})"),
                "span": "Linked span", "attributes": "Attributes"})
        else:
            st.caption("No span links.")


def _hops(ctx: Ctx, trace: str, span: str) -> None:
    """Producer ↔ consumer from this very span: the message it processed, or the ones it sent."""
    up = traces.producers(ctx.cur, trace)
    up = up[up["span_id"] == span] if not up.empty else up
    for i, r in enumerate(up.itertuples()):
        where = "in this trace" if r.other_trace_id == trace else f"in trace {r.other_trace_id[:12]}"
        # a button label is Markdown: names from the data are escaped
        links.jump(f"Producer: {md(r.other_service or '?')} sent {md(r.topic)} {md(f'[{r.partition}] @ {r.offset}')} "
                   f"({where}, paired by {md(r.pairing)})", key=f"trace_up_{i}", icon=":material/arrow_upward:",
                   trace=r.other_trace_id, span=r.other_span_id)
    down = traces.consumers(ctx.cur, trace)
    down = down[down["span_id"] == span] if not down.empty else down
    for i, r in enumerate(down.head(10).itertuples()):
        where = "in this trace" if r.other_trace_id == trace else f"in trace {r.other_trace_id[:12]}"
        links.jump(f"Consumer: {md(r.consumer_group or r.other_service or '?')} processed it after "
                   f"{fmt_ms(r.lag_ms)} ({where})", key=f"trace_down_{i}", icon=":material/arrow_downward:",
                   trace=r.other_trace_id, span=r.other_span_id)
    if len(down) > 10:
        st.caption(f"and {len(down) - 10:,} more consumers, listed below.")


def _messages(ctx: Ctx, trace: str, spans: pd.DataFrame) -> None:
    """Every message this trace consumed or produced, with the trace on the other side."""
    up, down = traces.producers(ctx.cur, trace), traces.consumers(ctx.cur, trace)
    if up.empty and down.empty:
        return
    st.subheader("Messages in and out")
    st.caption("Producer ↔ consumer across traces: each row opens the other side at its span. Pairs come "
               "from span links, parents, traceparent headers, offsets or message ids.")
    names = dict(zip(spans["span_id"], spans["service"], strict=True))
    rows = [{"direction": "consumed here, produced by", "here": names.get(r.span_id, "?"), "topic": r.topic,
             "partition": r.partition, "offset": r.offset, "other": r.other_service,
             "open": links.href("trace", trace=r.other_trace_id, span=r.other_span_id), "pairing": r.pairing,
             "lag_s": r.lag_ms / 1000} for r in up.itertuples()]
    rows += [{"direction": "produced here, consumed by", "here": names.get(r.span_id, "?"), "topic": r.topic,
              "partition": r.partition, "offset": r.offset, "other": r.consumer_group or r.other_service,
              "open": links.href("trace", trace=r.other_trace_id, span=r.other_span_id), "pairing": r.pairing,
              "lag_s": r.lag_ms / 1000} for r in down.itertuples()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={
        "direction": "Message", "here": "Span here", "topic": "Topic", "partition": "Partition",
        "offset": st.column_config.NumberColumn("Offset", format="%d"), "other": "Other side",
        "open": st.column_config.LinkColumn("Open", display_text=r"trace=([0-9a-f]{12})"),
        "pairing": "Paired by",
        "lag_s": st.column_config.NumberColumn("Lag (s)", format="%.3f",
                                               help="Consumer start minus producer start; negative is clock skew.")})


def _kv(values: dict, none: str) -> None:
    if not values:
        st.caption(none)
        return
    st.dataframe(pd.DataFrame([{"name": k, "value": _text(v)} for k, v in sorted(values.items())]),
                 hide_index=True, width="stretch", column_config={
                     "name": st.column_config.TextColumn("Name", width="medium"),
                     "value": st.column_config.TextColumn("Value", width="large")})


def _text(value: object) -> str:
    if value in ({}, [], None, ""):
        return "–"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


run(render, title="Trace",
    intro="One trace from end to end: its spans, each span's attributes, status and events, and the traces "
          "its messages came from and went to.")
