"""Overview: the topology with its health, what is in the store, and how fresh it is."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import graph, read
from dashboard.analyses import service_graph
from dashboard.charts.topology import topology_figure
from dashboard.findings import noise
from dashboard.findings.model import plural
from dashboard.ui import links, sources, state
from dashboard.ui.page import Ctx, empty, fmt_age, run
from dashboard.ui.text import md
from dashboard.views_common import RULE_PAGE, key_of

# Where each kind of node is looked at, with the param that filters the page to it.
NODE_PAGES = {
    "service": [("call-chains", "Call chains", "service"), ("findings", "All findings", None)],
    "topic": [("records", "Records", "topic"), ("dead-letters", "Dead letters", "topic"),
              ("event-design", "Event design", "topic"), ("findings", "All findings", None)],
    "group": [("lag", "Event lag", "group"), ("redeliveries", "Redeliveries", "group"),
              ("idempotency", "Idempotency", "group"), ("findings", "All findings", None)],
}
KIND_WORDS = {"service": "Service", "topic": "Topic", "group": "Consumer group"}


def _node(ctx: Ctx, nodes: pd.DataFrame, findings: list, event) -> None:
    """The clicked node (or the one chosen in the list): its open findings and its pages, filtered to it."""
    ids = list(nodes["id"])
    points = ((event or {}).get("selection") or {}).get("points") or []
    clicked = next((p["customdata"] for p in points if isinstance(p.get("customdata"), int)), None)
    if clicked is not None and 0 <= clicked < len(ids) and st.session_state.get("_ov_clicked") != clicked:
        st.session_state["_ov_clicked"] = clicked
        st.session_state["ov_node"] = ids[clicked]
    kind_of = dict(zip(nodes["id"], nodes["kind"], strict=True))
    name_of = dict(zip(nodes["id"], nodes["name"], strict=True))
    node = st.selectbox("Open a service, topic or consumer group", ids, index=None, key="ov_node",
                        placeholder="click a box in the graph, or choose here",
                        format_func=lambda i: f"{KIND_WORDS[kind_of[i]]} {name_of[i]}")
    if node is None:
        return
    kind, name = kind_of[node], name_of[node]
    about = graph.findings_of(findings, node)
    with st.container(border=True):
        st.markdown(f"**{KIND_WORDS[kind]} {md(name)}** · "
                    + (plural(len(about), "open finding") if about else "no open finding in this time range"))
        for f in about[:8]:
            links.to("findings", md(f"{f.severity.upper()} · {f.rule}: {f.summary}"[:160]),
                     icon=":material/flag:", finding=key_of(f))
        if len(about) > 8:
            st.caption(f"and {len(about) - 8} more on the Findings page.")
        pages = [p for p in NODE_PAGES[kind] if links.href(p[0])]  # pages this build has
        for col, (slug, label, param) in zip(st.columns(len(pages)), pages, strict=True):
            with col:
                links.to(slug, f"{label} of {md(name)}" if param else label, icon=":material/open_in_new:",
                         **({param: name} if param else {}))


def _focus(nodes: pd.DataFrame, edges: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The part of a large graph to draw (graph.trim): the worst and busiest nodes, or the
    neighbourhood of the one the user focuses on (``focus=`` in the URL); said in a caption."""
    everything = "(the worst and busiest)"
    if len(nodes) <= graph.MAX_DRAWN and links.param("focus") is None:
        return nodes, edges
    order = graph.ranked(nodes, edges)
    kind_of = dict(zip(nodes["id"], nodes["kind"], strict=True))
    name_of = dict(zip(nodes["id"], nodes["name"], strict=True))
    focus = links.choose("Focus the graph on", [everything, *order], param_name="focus", key="ov_focus",
                         format_func=lambda i: i if i == everything else f"{KIND_WORDS[kind_of[i]]} {name_of[i]}",
                         help=f"A graph of more than {graph.MAX_DRAWN} services, topics and groups is drawn in "
                              "part: the worst and busiest, or one of them with what it calls, feeds or reads, "
                              f"{graph.FOCUS_HOPS} steps out.")
    focused = focus if focus != everything else None
    drawn, drawn_edges = graph.trim(nodes, edges, focus=focused, order=order)
    left = drawn.attrs.get("left_out") or {}
    noun = {"service": "service", "topic": "topic", "group": "consumer group"}
    what = (f"{KIND_WORDS[kind_of[focused]].lower()} {md(name_of[focused])} and what it calls, feeds or reads, "
            f"{graph.FOCUS_HOPS} steps out" if focused else "the worst and busiest")
    st.caption(f"Drawn: {what}, {len(drawn):,} of {len(nodes):,}"
               + (". Not drawn: " + ", ".join(plural(n, noun[k]) for k, n in sorted(left.items())) if left else "")
               + ". Focus on one to see its neighbourhood.")
    return drawn, drawn_edges


def render(ctx: Ctx) -> None:
    counts = read.window_counts(ctx.cur, ctx.window)
    topo = read.declared_tables(ctx.cur)
    findings = sources.findings(ctx.cur, ctx.window)
    open_by_sev = sources.count_by_severity(findings)
    c = st.columns(6)
    c[0].metric("Services", f"{len(topo['services']) or counts['services']:,}",
                help="Declared in the topology (observed in the window when none is declared).")
    c[1].metric("Services seen", f"{counts['services']:,}")
    c[2].metric("Traces", f"{counts['traces']:,}")
    c[3].metric("Kafka records", f"{counts['records']:,}")
    c[4].metric("Dead letters", f"{counts['dead_letters']:,}")
    serious, info = noise.counts(findings)
    c[5].metric("Open findings", f"{serious:,}",
                help="Warnings and worse: " + (", ".join(f"{n:,} {s}" for s, n in open_by_sev.items() if s != "info")
                                               or "none"))
    if info:
        rules = len({f.rule for f in findings if f.severity == "info"})
        st.caption(f"Also {plural(info, 'info finding')} from {plural(rules, 'rule')} (drift between the "
                   "declaration and the data), listed one row per rule on the Findings page.")

    # an error rule of very many findings (hundreds of stopped groups) is one card, not all three
    worst = [f for f in noise.fold(findings) if f.severity in ("critical", "error")][:3]
    if worst:
        st.subheader("Worst right now")
        for f in worst:
            with st.container(border=True):
                left, right = st.columns([5, 1], vertical_alignment="center")
                left.markdown(f"**{md(f.severity.upper())} · {md(f.rule)}** on {md(noise.kind_before_subject(f))}"
                              f"**{md(f.subject)}** — {md(f.summary)}")
                with right:
                    page = RULE_PAGE.get(f.rule)
                    if page:
                        links.to(page, "Evidence", icon=":material/open_in_new:",
                                 **{k: f.subject for k in ("group", "topic") if f.subject_kind == k})
        if serious > len(worst):  # the cards show three: the rest are one click away
            links.to("findings", f"All {plural(serious, 'open finding')}, worst first", icon=":material/flag:")
    st.subheader("Topology")
    observed = sources.observed_graph(ctx.cur, ctx.window)
    nodes, edges = graph.build(topo, observed, read.volumes(ctx.cur, ctx.window), findings,
                               sync_stats=service_graph.sync_edges(ctx.cur, ctx.window))
    if nodes.empty:
        empty("No topology declared and nothing observed in this time range yet: load one with "
              "'--topology FILE', send traces or tap Kafka, or widen the time range.")
    else:
        nodes, edges = _focus(nodes, edges)
        if topo["services"].empty:
            st.caption("No topology file loaded: this is the graph observed from spans and offsets.")
        else:
            st.caption("Boxes are services, topics and consumer groups; solid lines are synchronous calls, "
                       "dashed lines events. A coloured border is the worst open finding. Sync calls carry "
                       "their rate in calls per minute over the time range and their p95 latency. "
                       "Click a box for its findings and pages.")
        fig = topology_figure(nodes, edges)
        with st.container(key="ov_topology"):
            # Boxes keep their size in pixels: a page narrower than the drawing scrolls it sideways
            # rather than squeezing boxes onto each other.
            st.html(f"<style>.st-key-ov_topology {{overflow-x: auto}} .st-key-ov_topology > div "
                    f"{{min-width: {int(fig.layout.meta['min_width'])}px}}</style>")
            event = st.plotly_chart(fig, width="stretch", config={"displayModeBar": False},
                                    on_select="rerun", selection_mode="points", key="ov_graph")
        _node(ctx, nodes, findings, event)
    hidden = nodes.attrs.get("hidden") or {}
    if hidden:
        noun = {"service": "service", "topic": "topic", "group": "consumer group"}
        st.caption("Not drawn: " + ", ".join(plural(n, noun[k]) for k, n in hidden.items())
                   + " seen in the cluster but idle in this time range, with no finding of their own"
                     " (old groups, test topics). Widen the time range or declare them to see them.")

    st.subheader("Data freshness")
    fresh = read.freshness(ctx.cur)
    if fresh.empty:
        empty("Nothing ingested yet.")
    else:
        fresh = fresh.assign(age=fresh["age_s"].map(lambda a: f"{fmt_age(a)} ago")).drop(columns=["age_s"])
        st.dataframe(fresh[["kind", "source", "age", "newest", "received", "rows"]], hide_index=True,
                     width="stretch", column_config={
                         "kind": "Data", "source": "Source", "age": "Newest item is",
                         "rows": st.column_config.NumberColumn("Rows", format="localized"),
                         "newest": st.column_config.DatetimeColumn("Newest item (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                         "received": st.column_config.DatetimeColumn("Last received (UTC)",
                                                                     format="YYYY-MM-DD HH:mm:ss")})
    _ingest_errors(ctx)
    running = state.collectors_status()
    if running is not None:
        st.subheader("Collectors in this process")
        if not running:
            empty("No collector runs: start 'seamwatch up' with --otlp and/or --bootstrap to collect live data.")
        else:
            st.dataframe(pd.DataFrame([{"collector": name, "status": info.describe()}
                                       for name, info in running.items()]),
                         hide_index=True, width="stretch", column_config={
                             "collector": st.column_config.TextColumn("Collector", width=200),
                             "status": st.column_config.TextColumn("Status", width=760)})
    counts_all = read.table_counts(ctx.cur)
    st.caption("Store, all time: " + " · ".join(f"{n:,} {t.replace('_', ' ')}" for t, n in
                                                zip(counts_all["table"], counts_all["rows"], strict=True)))

def _ingest_errors(ctx: Ctx) -> None:
    """What the collectors and imports could not store or read, each with its reason: the rows
    behind the "ingest errors" count, so an SRE can tell a lost offset range from a bad payload."""
    errors, total = read.ingest_errors(ctx.cur)
    if not total:
        return
    shown = f"the newest {len(errors):,} of {total:,}" if total > len(errors) else f"{total:,}"
    with st.expander(f"Ingest errors: what could not be stored or read, and why ({shown}, newest first)"):
        st.dataframe(errors, hide_index=True, width="stretch", column_config={
            "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss", width=160),
            "source": st.column_config.TextColumn("Source", width=110),
            "location": st.column_config.TextColumn("Where", width=220),
            "reason": st.column_config.TextColumn("Reason", width=760)})


run(render, title="Overview",
    intro="Services, topics and consumer groups as declared, painted with what was observed.")
