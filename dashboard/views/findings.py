"""Findings: every rule's verdict on the window, worst first, with its evidence and remedy."""

from __future__ import annotations

import shlex

import streamlit as st

from dashboard.charts.findings import findings_timeline
from dashboard.findings import registry
from dashboard.findings.model import SEVERITIES, count_text
from dashboard.findings.noise import FOLD_ERRORS_OVER, FOLD_WARNINGS_OVER, fold, is_folded, kind_before_subject
from dashboard.ui import evidence, links, sources, state
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md, md_code
from dashboard.views_common import RULE_PAGE, key_of
from dashboard.views_common import findings_frame as frame

TABLE_KEY = "find_table"


def same_in_a_terminal(ctx: Ctx) -> str:
    """The `seamwatch findings` command that lists exactly this window's findings."""
    db = state.app_args().db or "FILE"
    # quoted for a POSIX shell: a lake's connection string has spaces, a file name may
    return shlex.join(["seamwatch", "findings", "--db", db, "--from", ctx.window.start.isoformat(),
                       "--to", ctx.window.end.isoformat()])


def render(ctx: Ctx) -> None:
    report = sources.report(ctx.cur, ctx.window)
    found = report.findings
    st.markdown(f"The rules ran over **{ctx.window.start:%Y-%m-%d %H:%M:%S} – {ctx.window.end:%Y-%m-%d %H:%M:%S} "
                f"UTC**. The same list in a terminal: {md_code(same_in_a_terminal(ctx))}")
    counts = sources.count_by_severity(found)
    c = st.columns(5)
    for i, sev in enumerate(reversed(SEVERITIES)):
        c[i].metric(sev.capitalize(), f"{counts.get(sev, 0):,}")
    c[4].metric("Rules that failed", f"{len(report.errors):,}", help="A failing rule module does not hide the others.")
    for module, reason in report.errors.items():
        st.warning(f"The rules of {md(module.rsplit('.', 1)[-1])} could not run: {md(reason)}")
    if not found:
        empty("No findings in this time range: every rule passed on the data it saw.")
        return
    left, right = st.columns(2)
    floor = left.selectbox("At least", list(reversed(SEVERITIES)), index=3, key="find_floor",
                           format_func=str.capitalize)
    rules = sorted({f.rule for f in found})
    chosen = right.multiselect("Rules", rules, key="find_rules", placeholder="all rules")
    picked = [f for f in found if SEVERITIES.index(f.severity) >= SEVERITIES.index(floor)
              and (not chosen or f.rule in chosen)]
    # info findings one row per rule, after every warning and error; so is a warning or error rule of
    # many findings, unless rules are chosen: then each of their findings is a row
    shown = fold(picked, warnings=not chosen)
    df = frame(shown)
    st.plotly_chart(findings_timeline(df, title="When each finding was seen (first to last)"), width="stretch",
                    config={"displayModeBar": False})
    st.caption("Click a row to open its evidence below. Info findings are one row per rule, and so are a warning "
               f"rule's findings when it has more than {FOLD_WARNINGS_OVER} and an error rule's when it has more than "
               f"{FOLD_ERRORS_OVER} (choose the rule above to list each).")
    table = df[["severity", "rule", "subject", "count", "counted", "summary", "last_seen"]]
    event = st.dataframe(table, hide_index=True, width="stretch", key=TABLE_KEY, on_select="rerun",
                         selection_mode="single-row", column_config={
                             "severity": "Severity", "rule": "Rule", "subject": "Subject",
                             "count": st.column_config.NumberColumn("Count", format="localized"),
                             "counted": "Of",  # the count's unit: "616" "messages"
                             "summary": "What was seen",
                             "last_seen": st.column_config.DatetimeColumn("Last seen (UTC)", format="HH:mm:ss")})
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    clicked = df["key"].iloc[rows[0]] if rows and rows[0] < len(df) else None
    _drill(shown, picked, clicked)


def _drill(shown: list, every: list, clicked: str | None) -> None:
    st.subheader("Evidence")
    by_key = {key_of(f): f for f in shown}
    wanted = links.param("finding")
    if wanted and wanted not in by_key:  # a link to one info finding folded into its rule's row
        one = next((f for f in every if key_of(f) == wanted), None)
        if one is not None:
            by_key[wanted] = one
    if clicked is not None and st.session_state.get("_find_clicked") != clicked:
        # A row click wins once, like a link: the URL and the selectbox follow it.
        links.set_param("finding", clicked)
    st.session_state["_find_clicked"] = clicked
    key = links.choose("Finding", list(by_key), param_name="finding", key="find_key",
                       format_func=lambda k: f"{by_key[k].severity} · {by_key[k].rule} · {by_key[k].subject}")
    if key is None:
        return
    f = by_key[key]
    st.markdown(f"**{md(f.rule)}** on {md(kind_before_subject(f))}**{md(f.subject)}** — {md(f.severity)}, "
                f"count {md(count_text(f))}")
    st.markdown(f"{md(f.summary)}.")
    st.info(md(f.remedy), icon=":material/build:")
    page = RULE_PAGE.get(f.rule)
    params = {k: f.subject for k in ("group", "topic") if f.subject_kind == k}
    traces = (f.evidence or {}).get("trace_ids") or []
    if page:
        on = "" if is_folded(f) else f" on {md(f.subject)}"
        links.to(page, f"Open {links.title(page)}{on}", icon=":material/open_in_new:", **params,
                 trace=traces[0] if traces and page == "call-chains" else None)
    units = registry.rule(f.rule).units if f.rule in registry.ids() else {}
    for title, table in evidence.tables(f.evidence, units=units, trace_href=_trace_href,
                                        record_href=lambda rid: links.href("records", record=rid)):
        st.markdown(f"**{md(title)}**")
        # a trace id opens the Trace page, a record the Records page, as every page's links do
        st.dataframe(table, hide_index=True, width="stretch", height=min(400, 36 + 35 * max(1, len(table))),
                     column_config={evidence.TRACE_COLUMN: st.column_config.LinkColumn(
                                        evidence.TRACE_COLUMN, display_text=r"trace=([0-9a-f]+)"),
                                    evidence.RECORD_COLUMN: st.column_config.LinkColumn(
                                        evidence.RECORD_COLUMN, display_text=r"record=([^&]+)")})


def _trace_href(trace_id: str, span_id: str | None) -> str | None:
    return links.href("trace", trace=trace_id, span=span_id)


run(render, title="Findings",
    intro="Each finding is one of the product's principles measured on the data: worst and newest first.")
