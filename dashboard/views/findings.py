"""Findings: every rule's verdict on the window, worst first, with its evidence and remedy."""

from __future__ import annotations

import json

import streamlit as st

from dashboard.charts.findings import findings_timeline
from dashboard.findings.model import SEVERITIES
from dashboard.ui import links, sources
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.text import md
from dashboard.views_common import RULE_PAGE, key_of
from dashboard.views_common import findings_frame as frame


def render(ctx: Ctx) -> None:
    report = sources.report(ctx.cur, ctx.window)
    found = report.findings
    counts = sources.count_by_severity(found)
    c = st.columns(5)
    for i, sev in enumerate(reversed(SEVERITIES)):
        c[i].metric(sev.capitalize(), counts.get(sev, 0))
    c[4].metric("Rules that failed", len(report.errors), help="A failing rule module does not hide the others.")
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
    shown = [f for f in found if SEVERITIES.index(f.severity) >= SEVERITIES.index(floor)
             and (not chosen or f.rule in chosen)]
    df = frame(shown)
    st.plotly_chart(findings_timeline(df, title="When each finding was seen (first to last)"), width="stretch", config={"displayModeBar": False})
    st.dataframe(df[["severity", "rule", "subject", "count", "summary", "last_seen"]],
                 hide_index=True, width="stretch", column_config={
                     "severity": "Severity", "rule": "Rule", "subject": "Subject",
                     "count": st.column_config.NumberColumn("Count", format="localized"), "summary": "What was seen",
                     "last_seen": st.column_config.DatetimeColumn("Last seen (UTC)", format="HH:mm:ss")})
    _drill(shown)


def _drill(shown: list) -> None:
    st.subheader("Evidence")
    by_key = {key_of(f): f for f in shown}
    key = links.choose("Finding", list(by_key), param_name="finding", key="find_key",
                       format_func=lambda k: f"{by_key[k].severity} · {by_key[k].rule} · {by_key[k].subject}")
    if key is None:
        return
    f = by_key[key]
    st.markdown(f"**{md(f.rule)}** on {md(f.subject_kind)} **{md(f.subject)}** — {md(f.severity)}, count {f.count:,}")
    st.markdown(f"{md(f.summary)}.")
    st.info(md(f.remedy), icon=":material/build:")
    page = RULE_PAGE.get(f.rule)
    params = {k: f.subject for k in ("group", "topic") if f.subject_kind == k}
    traces = (f.evidence or {}).get("trace_ids") or []
    if page:
        links.to(page, f"Open {links.title(page)} on {md(f.subject)}", icon=":material/open_in_new:", **params,
                 trace=traces[0] if traces and page == "call-chains" else None)
    st.json(json.loads(json.dumps(f.evidence, default=str)), expanded=1)


run(render, title="Findings",
    intro="Each finding is one of the product's principles measured on the data: worst and newest first.")
