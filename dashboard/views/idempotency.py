"""Idempotency: duplicates a consumer absorbed, and those that caused a second side effect."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import read
from dashboard.analyses import idempotency as idem
from dashboard.analyses import records
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.series import bars_over_time
from dashboard.charts.theme import OK_COLOUR, SEVERITY_COLOURS
from dashboard.charts.timeline import processings_timeline
from dashboard.ui import links
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.record_evidence import about, generation_param, published_table
from dashboard.ui.text import md, md_code

EFFECT_WORDS = {"event": "published", "db_write": "wrote", "http_call": "called"}


def _summary(ctx: Ctx) -> pd.DataFrame:
    summ = idem.summary(ctx.cur, ctx.window)
    claimed = read.declared_tables(ctx.cur)["groups"][["name", "idempotent"]]
    summ = summ.drop(columns=["claimed_idempotent"]).merge(claimed.rename(columns={"name": "group"}), how="left")
    return summ.sort_values(["violations", "causation_duplicates", "duplicates"], ascending=False)


def render(ctx: Ctx) -> None:
    dup = idem.duplicates(ctx.cur, ctx.window)
    cau = idem.causation_duplicates(ctx.cur, ctx.window)
    viol = dup[dup["verdict"] == "violation"]
    c = st.columns(4)
    c[0].metric("Violations", f"{len(viol):,}", help="Messages processed more than once by a group where more "
                "than one processing had a side effect (an event, a DB write, an unsafe HTTP call).")
    c[1].metric("Duplicates absorbed", f"{int((dup['verdict'] == 'absorbed').sum()):,}",
                help="Processed again without a second side effect: an idempotent consumer doing its job.")
    c[2].metric("Groups violating",
                f"{viol['group'].nunique() + len(set(cau['group'].dropna()) - set(viol['group'])):,}")
    c[3].metric("Same-cause events", f"{len(cau):,}", help="Two downstream events of one type with the same causation id.")

    bucket = auto_bucket(ctx.window, 40)
    over = (dup.assign(bucket=pd.to_datetime(dup["first_processed"]).dt.floor(bucket))
            .groupby(["bucket", "verdict"]).size().reset_index(name="messages")) if len(dup) else \
        pd.DataFrame(columns=["bucket", "verdict", "messages"])
    st.plotly_chart(bars_over_time(over, x="bucket", bucket=bucket, x_range=(ctx.window.start, ctx.window.end),
                                   y="messages", color="verdict", y_title="duplicated messages",
                                   title="Duplicated messages over time: absorbed or violated",
                                   colors={"violation": SEVERITY_COLOURS["error"], "absorbed": OK_COLOUR},
                                   empty="No message was processed twice in this time range"),
                    width="stretch", config={"displayModeBar": False})
    summ = _summary(ctx)
    if summ.empty:
        empty("No consumer group processed a message twice in this time range, so idempotency was not tested.")
        return
    st.subheader("By consumer group")
    st.dataframe(summ, hide_index=True, width="stretch", column_config={
        "group": "Consumer group", "duplicates": st.column_config.NumberColumn("Duplicated messages", format="%d"),
        "absorbed": st.column_config.NumberColumn("Absorbed", format="%d"),
        "violations": st.column_config.NumberColumn("Violations", format="%d"),
        "causation_duplicates": st.column_config.NumberColumn("Same-cause events", format="%d"),
        "idempotent": st.column_config.CheckboxColumn("Declared idempotent")})
    _drill(ctx, dup, list(summ["group"]))


def _drill(ctx: Ctx, dup: pd.DataFrame, groups: list[str]) -> None:
    st.subheader("Evidence")
    left, right = st.columns(2)
    with left:
        grp = links.choose("Consumer group", groups, param_name="group", key="idem_group")
    part = dup[dup["group"] == grp].sort_values(["verdict", "effectful"], ascending=[False, False])
    rows = {r.message: r for r in part.itertuples()}
    if not rows:
        empty(f"Group {md(grp)} has same-cause events only; see the table above.")
        return
    with right:
        msg = links.choose("Message", list(rows), param_name="record", key="idem_msg",
                           format_func=lambda m: f"{m} — {rows[m].processings}× ({rows[m].verdict})")
    r = rows[msg]
    verdict = ("**violated**: more than one processing had a side effect" if r.verdict == "violation"
               else "**absorbed**: only one processing had a side effect")
    st.markdown(f"{md_code(r.topic)} event {md_code(r.event_id or 'no id')} processed **{r.processings}×** by "
                f"**{md(grp)}**, {verdict}.")
    about(ctx.cur, r.topic, list(r.offsets), at=pd.Timestamp(r.first_processed).to_pydatetime())
    ev = pd.DataFrame(r.evidence)
    ev["at"] = pd.to_datetime(ev["at"])
    ev["effect"] = ev["effects"].map(lambda es: "; ".join(f"{EFFECT_WORDS.get(e['effect'], e['effect'])} "
                                                           f"{e['target']}" for e in es) or "none")
    ev["had_effect"] = ev["effects"].map(len) > 0
    st.plotly_chart(processings_timeline(ev, at="at", failed="had_effect", label="effect",
                                         names=("no side effect", "side effect")),
                    width="stretch", config={"displayModeBar": False})
    ev["trace"] = [links.href("trace", trace=t, span=s) or t for t, s in zip(ev["trace_id"], ev["span_id"], strict=True)]
    # of a topic created again, each link opens the record of the generation it was processed in
    at = pd.Timestamp(r.first_processed).to_pydatetime()
    positions = list(zip(ev["partition"], ev["offset"], strict=True))
    gens = {(p, o): generation_param(ctx.cur, r.topic, int(p), int(o), at) for p, o in set(positions)}
    ev["record"] = [links.record_href(r.topic, p, o, generation=gens[(p, o)]) for p, o in positions]
    st.dataframe(ev[["at", "instance", "partition", "offset", "error", "effect", "record", "trace"]], hide_index=True,
                 width="stretch", column_config={
                     "at": st.column_config.DatetimeColumn("At (UTC)", format="HH:mm:ss.SSS"),
                     "instance": "Instance", "partition": "Partition", "offset": "Offset", "error": "Failed",
                     "effect": "Side effects",
                     "record": st.column_config.LinkColumn("Record", display_text=r"record=([^&]+)"),
                     "trace": st.column_config.LinkColumn("Trace", display_text=r"trace=([0-9a-f]{8})")})
    published = records.produced_by(ctx.cur, [s for p in r.evidence for s in records.effect_spans(p["effects"])],
                                    since=pd.Timestamp(r.first_processed).to_pydatetime())
    if not published.empty:
        st.markdown(f"**The side effects: {len(published)} record{'s' if len(published) != 1 else ''} these "
                    "processings published**")
        published_table(published)


run(render, title="Idempotency",
    intro="Delivery happens more than once: a consumer must not repeat its side effects when it does.")
