"""Event design: are events facts with stable ids, times, versions and enough context?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.analyses import event_design as ed
from dashboard.analyses import sync_coupling
from dashboard.charts.findings import findings_timeline
from dashboard.findings import registry
from dashboard.findings.model import either, plural
from dashboard.findings.scorecard import judges, scorecard
from dashboard.ui import evidence, links, sources
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code
from dashboard.views_common import findings_frame, key_of

DESIGN_RULES = registry.ids(page="event-design")  # the rules that list themselves on this page

FAILING_LINKS = 24  # subjects linked under a failing principle; the rest are counted


def render(ctx: Ctx) -> None:
    _scorecard(ctx)
    types = ed.event_types(ctx.cur, ctx.window, streams=True)
    internal, types = types[types["streams_app"].notna()], types[types["streams_app"].isna()]
    if types.empty:
        _streams_internal(internal)
        empty("No events with a type in this time range: the Kafka tap ('seamwatch up --bootstrap …') or record "
              "imports bring them.")
        return
    calls = sync_coupling.callbacks(ctx.cur, ctx.window)
    chatty = calls[calls["share"].fillna(0) >= 0.5]
    design = [f for f in sources.findings(ctx.cur, ctx.window) if f.rule in DESIGN_RULES]
    c = st.columns(5)
    c[0].metric("Event types", f"{len(types):,}")
    c[1].metric("Named like commands", f"{int((types['naming'] == 'command').sum()):,}",
                help="An event announces a fact that happened (OrderCreated), never a request (CreateInvoice).")
    c[2].metric("Types with envelope gaps", f"{int((types['incomplete'] > 0).sum()):,}",
                help="Records without a stable id, a timestamp or a version (or CloudEvents' required attributes).")
    c[3].metric("Types without trace context", f"{int((types['no_trace_context'] > 0).sum()):,}")
    c[4].metric("Consumers calling back", f"{len(chatty):,}",
                help="Groups whose processing calls the producer's API for most events: the event lacks context.")
    st.plotly_chart(findings_timeline(findings_frame(design), title="Event-design findings, first to last seen"), width="stretch", config={"displayModeBar": False})

    st.subheader("Event types, worst first")
    t = types.assign(rank=(types["naming"] == "command") * 1_000_000 + types["incomplete"] + types["no_trace_context"]
                     + types["null_key"]).sort_values("rank", ascending=False)
    # a compacted topic's records are states: the table says so where an event type's reading stands
    t = t.assign(naming=[(n if not c else "state (compacted)" if not isinstance(n, str) else f"{n} (compacted)")
                         for c, n in zip(t["compacted"], t["naming"], strict=True)],
                 event_type=t["event_type"].fillna("no type"))
    st.dataframe(t[["topic", "event_type", "naming", "records", "incomplete", "missing_id", "missing_time",
                    "missing_version", "no_trace_context", "null_key", "cloudevents", "undecoded"]], hide_index=True,
                 width="stretch", column_config={
                     "topic": "Topic", "event_type": "Event type",
                     "naming": st.column_config.TextColumn(
                         "Reads as", help="A fact or a command, by its type's name; a compacted topic's records are "
                                          "each key's latest state, asked for a version only."),
                     "records": st.column_config.NumberColumn("Records", format="localized"),
                     "incomplete": "Envelope gaps", "missing_id": "No id", "missing_time": "No time",
                     "missing_version": "No version", "no_trace_context": "No traceparent", "null_key": "Null key",
                     "cloudevents": "CloudEvents", "undecoded": "Undecoded (no schema)"})
    _streams_internal(internal)
    st.subheader("Consumers calling the producer back")
    back = calls[calls["called_back"] > 0] if len(calls) else calls
    if back.empty:
        empty("No consumer called the producer of its events while processing them.")
    else:
        st.dataframe(back.sort_values("share", ascending=False)[
            ["consumer_group", "topic", "producer", "operation", "processed", "called_back", "share"]],
            hide_index=True, width="stretch", column_config={
                "consumer_group": "Group", "topic": "Topic", "producer": "Producer", "operation": "Call",
                "processed": "Processed", "called_back": "Called back",
                "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0, max_value=1)})
    _drill(ctx, t, calls)
    _finding_evidence(design)


def _streams_internal(internal: pd.DataFrame) -> None:
    """Kafka Streams' own topics, said to be left out rather than silently missing."""
    if internal.empty:
        return
    per_topic = internal.groupby(["topic", "streams_app"], sort=True)["records"].sum()
    named = [f"{md_code(topic)} ({md(app) + ', ' if app else ''}{int(n):,} records)"
             for (topic, app), n in per_topic.items()]
    st.caption(f"Left out of the audit, as Kafka Streams' internal topics (changelogs and repartition topics, "
               f"written in the library's formats): {', '.join(named)}. Their consumer lag is on the Event lag page.")


def _scorecard(ctx: Ctx) -> None:
    """Where the design stands, line by line of the guidance: first thing on the page."""
    st.subheader("Design scorecard")
    rows = scorecard(ctx.cur, ctx.window, sources.findings(ctx.cur, ctx.window))
    # eleven short rows: an HTML table shows every line whole, with no scrolling
    st.table(pd.DataFrame([{
        "Status": r["status"].upper(), "Guidance": r["guidance"], "Judges": judges(r),
        "Pass": r["pass"], "Fail": r["fail"], "Rules": ", ".join(r["rules"]),
    } for r in rows]).set_index("Status"))
    # links are page links, never Markdown: a name from the data must not make a link of its own
    for r in (r for r in rows if r["failing"]):
        st.markdown(f"**{md(r['guidance'])}** fails on:")
        cols = st.columns(4)
        for i, x in enumerate(r["failing"][:FAILING_LINKS]):
            f = x["findings"][0]
            with cols[i % 4]:
                links.to("findings", md(x["subject"]), icon=":material/flag:", finding=f["finding"])
        if len(r["failing"]) > FAILING_LINKS:  # a cluster's hundreds of topics would be a wall of links
            st.caption(f"and {len(r['failing']) - FAILING_LINKS:,} more: each is a finding on the Findings page "
                       "and in the list below.")


def _finding_evidence(design: list) -> None:
    """Each design finding with what it rests on: its evidence as the rule gathered it, and its traces."""
    st.subheader("Design findings and their evidence")
    by_key = {key_of(f): f for f in design}
    if not by_key:
        empty("No design finding in this time range.")
        return
    key = links.choose("Finding", list(by_key), param_name="finding", key="ed_finding",
                       format_func=lambda k: f"{by_key[k].severity} · {k}")
    f = by_key[key]
    st.markdown(f"**{md(f.rule)}** on {md_code(f.subject)}: {md(f.summary)}.")
    st.markdown(f"Remedy: {md(f.remedy)}")
    ev = {k: v for k, v in f.evidence.items() if k not in ("trace_ids", "span_ids")}
    # the Findings page's tables (nested maps as columns, numbers formatted), as HTML (st.table)
    # so their text is on the page, selectable and findable
    for title, table in evidence.tables(ev, units=registry.rule(f.rule).units):
        st.markdown(f"**{md(title)}**")
        st.table(table.set_index(table.columns[0]))
    for t in list(f.evidence.get("trace_ids") or [])[:3]:
        links.to("call-chains", f"Trace {md(str(t)[:12])}", icon=":material/account_tree:", trace=t)


def _drill(ctx: Ctx, types: pd.DataFrame, calls: pd.DataFrame) -> None:
    st.subheader("Evidence")
    topics = list(dict.fromkeys(types["topic"]))
    topic = links.choose("Topic", topics, param_name="topic", key="ed_topic")
    names = ed.names(ctx.cur, ctx.window)
    for r in names[names["topic"] == topic].itertuples():
        verdict = {"command": "reads as a **command**", "fact": "reads as a **fact**"}.get(r.verdict, f"is a {r.verdict}")
        st.markdown(f"The {md(str(r.kind).replace('_', ' '))} name {md_code(r.name)} {verdict}: {md(r.why)}.")
    if types.loc[types["topic"] == topic, "compacted"].any():
        st.markdown(f"{md_code(topic)} is compacted (its cleanup.policy, as the tap last read it): the broker keeps "
                    "each key's latest record, so its records are states identified by their key and stamped by "
                    "the record time. Only a version is asked of them, not an event id or an event time.")
    for r in types[types["topic"] == topic].itertuples():
        gaps = [w for w, n in (("id", r.missing_id), ("time", r.missing_time), ("version", r.missing_version)) if n]
        if gaps:
            sample = ", ".join(list(r.sample_incomplete)[:5]) if r.sample_incomplete is not None else ""
            st.markdown(f"{md_code(r.event_type)}: {r.incomplete:,} of {plural(int(r.records), 'record')} lack {either(gaps)}"
                        + (f" (partition/offset {md(sample)} …)" if sample else "") + ".")
        if r.no_trace_context:
            st.markdown(f"{md_code(r.event_type)}: {plural(int(r.no_trace_context), 'record')} carry no traceparent header."
                        .replace("1 record carry", "1 record carries"))
        if r.undecoded:
            st.markdown(f"{r.undecoded:,} of {r.records:,} records are schema-registry values stored undecoded "
                        "(their schema could not be had: see the ingest errors); their envelope is not judged.")
    chat = calls[(calls["topic"] == topic) & (calls["called_back"] > 0)]
    for r in chat.itertuples():
        st.markdown(f"Group **{md(r.consumer_group)}** called {md_code(f'{r.producer} {r.operation}')} while processing "
                    f"{r.called_back:,} of {r.processed:,} events ({r.share:.0%}).")
        ids = list(r.trace_ids)[:3] if r.trace_ids is not None else []
        for t in ids:
            links.to("trace", f"Trace {md(t[:12])}", icon=":material/timeline:", trace=t)


run(render, title="Event design",
    intro="Durable events are facts with stable ids, timestamps, versions and enough context that consumers "
          "need not call back.")
