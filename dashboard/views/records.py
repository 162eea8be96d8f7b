"""Records: search what the tap stored, and follow one record to everything that happened to it."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from collectors.model import EXCERPT_BYTES
from collectors.normalize.binary import CONNECT_SHOWN, binary_payload
from collectors.normalize.header_values import decode_all
from dashboard.analyses import records as recs
from dashboard.analyses.identity import identity
from dashboard.analyses.processings import auto_bucket
from dashboard.charts.series import bars_over_time
from dashboard.ui import links
from dashboard.ui.page import Ctx, empty, run
from dashboard.ui.record_evidence import identity_markdown, published_table
from dashboard.ui.text import md, md_code

# Search fields, in the URL under these names (RecordQuery's fields).
FIELDS = ("cluster", "topic", "partition", "offset_from", "offset_to", "key", "header", "header_value", "value")
PAGE_PARAM = "rpage"  # 'page' already picks the page of the app on the root
EFFECT_WORDS = {"event": "published to", "db_write": "wrote", "http_call": "called"}
ANY = "(any)"


def _from_url() -> None:
    """A pasted or clicked link sets the form; the user's typing is kept otherwise."""
    for f in FIELDS:
        url = links.param(f)
        if st.session_state.get(f"_rec_{f}_url", "") != (url or ""):
            st.session_state[f"rec_{f}"] = url or ("" if f != "topic" else ANY)
            st.session_state[f"_rec_{f}_url"] = url or ""


def _submit() -> None:
    for f in FIELDS:
        v = str(st.session_state.get(f"rec_{f}") or "").strip()
        v = "" if v == ANY else v
        links.set_param(f, v or None)
        st.session_state[f"_rec_{f}_url"] = v
    links.set_param(PAGE_PARAM, None)
    links.set_param("record", None)


def _form(ctx: Ctx) -> recs.RecordQuery | None:
    _from_url()
    topics = recs.topics(ctx.cur)
    chosen = st.session_state.get("rec_topic")
    options = [ANY, *topics, *([chosen] if chosen and chosen not in topics and chosen != ANY else [])]
    if st.session_state.get("rec_topic") not in options:
        st.session_state["rec_topic"] = ANY
    clusters = recs.clusters(ctx.cur)
    with st.form("record_search", border=True):
        top = st.columns([3, 1, 1, 1, 2])
        top[0].selectbox("Topic", options, key="rec_topic")
        top[1].text_input("Partition", key="rec_partition", placeholder="any")
        top[2].text_input("Offset from", key="rec_offset_from", placeholder="first")
        top[3].text_input("Offset to", key="rec_offset_to", placeholder="last")
        top[4].text_input("Key", key="rec_key", placeholder="exact, e.g. an order id",
                          help="The key as stored: text, or `base64:…` for a binary key. A UUID also finds "
                               "the records keyed by its 16 bytes, as Java's and Avro's UUID keys are written; "
                               "a Kafka Connect JSON key (a Debezium row's) is found by its payload: `74` or "
                               "`{\"id\":74}`.")
        mid = st.columns([1, 1, 2])
        mid[0].text_input("Header name", key="rec_header", placeholder="e.g. ce_type")
        mid[1].text_input("Header value contains", key="rec_header_value")
        mid[2].text_input("Value", key="rec_value", placeholder='text it contains, or $.customerId == "c-42"',
                          help="A substring of the value, or a JSON-path equality: `$.data.orderId == \"o-1\"`, "
                               "`$.total == 30`, `$.vip == true`, `$.items[0].sku == 'x'`. Searches the stored "
                               f"excerpt (the first {EXCERPT_BYTES:,} bytes, or the schema-decoded value).")
        if len(clusters) > 1:
            st.selectbox("Cluster", ["", *clusters], key="rec_cluster", format_func=lambda c: c or "any")
        st.form_submit_button("Search", icon=":material/search:", on_click=_submit, type="primary")
    raw = {f: (links.param(f) or None) for f in FIELDS}
    try:
        return recs.RecordQuery.from_strings(**raw)
    except recs.SearchError as exc:
        st.error(md(str(exc)), icon=":material/error:")
        return None


def _page_number() -> int:
    try:
        return max(0, int(links.param(PAGE_PARAM) or 1) - 1)
    except ValueError:
        return 0


def _results(ctx: Ctx, q: recs.RecordQuery) -> None:
    page = _page_number()
    bucket = auto_bucket(ctx.window, 60)
    over = recs.over_time(ctx.cur, ctx.window, q, bucket=bucket)
    total = int(over["records"].sum())
    st.plotly_chart(bars_over_time(over, x="bucket", bucket=bucket, y="records", color="topic", y_title="records",
                                   title="Matching records over time, by topic", height=280,
                                   empty="No matching record in this time range",
                                   x_range=(ctx.window.start, ctx.window.end)),
                    width="stretch", config={"displayModeBar": False})
    if total == 0:
        empty("No stored record matches in this time range." + (" Widen the time range in the sidebar, or loosen a "
                                                               "filter." if not q.empty else ""))
        return
    pages = (total + recs.PAGE_SIZE - 1) // recs.PAGE_SIZE
    page = min(page, pages - 1)
    df = recs.search(ctx.cur, ctx.window, q, page=page)
    first = page * recs.PAGE_SIZE + 1
    st.caption(f"{total:,} record{'s' if total != 1 else ''} match, newest first · showing {first:,}–"
               f"{first + len(df) - 1:,} (page {page + 1:,} of {pages:,})")
    df["record"] = [links.href("records", record=recs.record_id(t, p, o), **q.as_params(),
                               **({PAGE_PARAM: page + 1} if page else {}))
                    for t, p, o in zip(df["topic"], df["partition"], df["offset"], strict=True)]
    df["event_type"] = df["event_type"].fillna("")
    df["key"] = df["key"].fillna("")
    df["value_preview"] = df["value_preview"].mask(df["value_size"] < 0, TOMBSTONE)
    event = st.dataframe(
        df[["timestamp", "topic", "partition", "offset", "key", "event_type", "record", "value_preview"]],
        hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key=f"rec_rows_{page}",
        column_config={
            "timestamp": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
            "topic": "Topic", "partition": st.column_config.NumberColumn("Partition", format="%d"),
            "offset": st.column_config.NumberColumn("Offset", format="%d"), "key": "Key", "event_type": "Event type",
            "value_preview": st.column_config.TextColumn("Value", width="large"),
            "record": st.column_config.LinkColumn("Open", display_text="open")})
    rows = event.selection.rows if event is not None else []
    picked = recs.record_id(*df.iloc[rows[0]][["topic", "partition", "offset"]]) if rows else None
    # act on a new selection only: the selection outlives the rerun it causes
    if picked is not None and picked != st.session_state.get("_rec_picked"):
        st.session_state["_rec_picked"] = picked
        links.set_param("record", picked)
        st.rerun()
    nav = st.columns([1, 1, 6])
    if page > 0 and nav[0].button("Newer", icon=":material/chevron_left:", key="rec_newer"):
        links.set_param(PAGE_PARAM, str(page) if page > 1 else None)
        st.rerun()
    if page + 1 < pages and nav[1].button("Older", icon=":material/chevron_right:", key="rec_older"):
        links.set_param(PAGE_PARAM, str(page + 2))
        st.rerun()


# ------------------------------------------------------------------------------------------------
# One record


def _when(v: Any) -> str:
    return "?" if v is None or pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"


def _trace_link(trace_id: str | None) -> str | None:
    return links.href("call-chains", trace=trace_id) if trace_id else None


TOMBSTONE = "(null: a tombstone)"
SCHEMA_FORMATS = {"avro": "Avro", "protobuf": "Protobuf", "json-schema": "JSON Schema"}


def _pretty(excerpt: str | None, size: int | None, envelope: str | None = None) -> tuple[str, str, str]:
    """(text, language, note) to show a value."""
    if size is not None and size < 0:
        return TOMBSTONE, "text", ""
    if excerpt is None:
        return "(empty)", "text", ""
    cut = size is not None and size > EXCERPT_BYTES
    if (payload := binary_payload(excerpt)) is not None:  # (its prefix would read as a URL scheme: base64://…)
        return payload, "text", "binary value, shown as base64"
    decoded = (f"{SCHEMA_FORMATS[envelope]} decoded through its registered schema"
               if envelope in SCHEMA_FORMATS else "")
    # a Kafka Connect JSON value past the bound was kept from its payload on (binary.value_excerpt)
    connect = cut and excerpt.startswith(CONNECT_SHOWN.decode())
    try:
        shown = json.dumps(json.loads(excerpt), indent=2, ensure_ascii=False)
        return shown, "json", ("Kafka Connect JSON: its payload, without the schema before it" if connect
                               else decoded)
    except ValueError:
        note = (f"Kafka Connect JSON: the first {EXCERPT_BYTES:,} bytes of its payload ({size:,} bytes with the "
                "schema before it)" if connect else f"the first {EXCERPT_BYTES:,} bytes of {size:,}" if cut else "")
        return excerpt, "json" if excerpt[:1] in "{[" else "text", note


VALUE_LINES = 40  # a value up to this many lines shows whole; a longer one scrolls in a box this tall
VALUE_BOX_PX = 760


def value_height(text: str) -> int | str:
    """The value box's height: its content's (every line shown, wrapped ones too: a height
    counted from the lines cut the last one off), or a fixed box that scrolls for a long value."""
    return "content" if text.count("\n") + 1 <= VALUE_LINES else VALUE_BOX_PX


def _detail(ctx: Ctx, rid: str) -> None:
    try:
        topic, partition, offset = recs.parse_record_id(rid)
    except recs.SearchError as exc:
        st.error(md(str(exc)), icon=":material/error:")
        return
    r = recs.record(ctx.cur, topic, partition, offset, cluster=links.param("cluster"))
    if r is None:
        st.warning(f"The store holds no record at {md_code(rid)}: it was not tapped (a topic left out, or before "
                   "the tap started), was removed by retention, or no message was written there.",
                   icon=":material/search_off:")
        return
    head, back = st.columns([4, 1], vertical_alignment="center")
    head.subheader(f"{md(topic)} · partition {partition} · offset {offset:,}")
    back.button("Back to search", icon=":material/arrow_back:", on_click=_back, key="rec_back", width="stretch")
    if int(r.get("generations") or 1) > 1:
        r = _generation(ctx, r)
    who = identity(r["key"], r["headers"], r["value_excerpt"])
    facts = [identity_markdown(who), f"**Produced:** {_when(r['timestamp'])}",
              f"**Event:** {md(r['event_type'] or '?')} {md_code(r['event_id'] or 'no id')}"
              + (f" (envelope: {md(r['envelope'])})" if r.get("envelope") else ""),
              f"**Size:** {int(r['value_size']):,} bytes" if r.get("value_size") is not None
              and r["value_size"] >= 0 else "**Value:** null"]
    origin = (recs.record_id(r["dlt_origin_topic"], r["dlt_origin_partition"], r["dlt_origin_offset"])
              if r.get("dlt_origin_topic") and r.get("dlt_origin_partition") is not None
              and r.get("dlt_origin_offset") is not None else None)
    if r.get("is_dead_letter"):
        facts.append("**Dead letter** of " + (md_code(origin) if origin else "an unknown record")
                     + (f": {md(r['dlt_exception_class'])}" if r.get("dlt_exception_class") else ""))
    if not r.get("trace_id"):
        facts.append("**Trace:** none (the record carries no traceparent header)")
    st.markdown("  \n".join(facts))
    # links as page links, never Markdown links: no text from the data becomes a link target
    if r.get("trace_id"):
        links.to("call-chains", f"The trace that produced it: {r['trace_id'][:8]}…", icon=":material/account_tree:",
                 trace=r["trace_id"])
    if origin:
        links.to("records", f"Its origin record {md(origin)}", icon=":material/manage_search:", record=origin)
    left, right = st.columns(2)
    with left:
        st.markdown("**Headers** (decoded)")
        hs = decode_all(r["headers"])
        if hs:
            hdf = pd.DataFrame([{"header": h.name, "value": h.shown,
                                 "trace": _trace_link(h.trace_id) or "", "as": h.decoded} for h in hs])
            cfg = {"header": "Header", "value": st.column_config.TextColumn("Value", width="medium"),
                   "as": "Read as", "trace": st.column_config.LinkColumn("Trace", display_text="open trace")}
            if not hdf["trace"].astype(bool).any():
                hdf = hdf.drop(columns=["trace"])
            if (hdf["as"] == "text").all():  # nothing decoded: the column would only say "text"
                hdf = hdf.drop(columns=["as"])
            st.dataframe(hdf, hide_index=True, width="stretch", column_config=cfg,
                         height=min(420, 38 + 35 * len(hdf)))
        else:
            st.caption("No headers.")
    with right:
        text, lang, note = _pretty(r["value_excerpt"], r.get("value_size"), r.get("envelope"))
        st.markdown("**Value**" + (f" ({md(note)})" if note else ""))
        st.code(text, language=lang, wrap_lines=True, height=value_height(text))
    _processings(ctx, r)
    _copies(ctx, r)


def _generation(ctx: Ctx, r: dict[str, Any]) -> dict[str, Any]:
    """A position of a topic deleted and created again holds a record of each generation: say so and
    let the user pick one (newest first); its processings are its generation's alone."""
    times = recs.tapped_times(ctx.cur, r)
    st.info(f"This position holds {len(times)} records: {md(r['topic'])} was deleted and created again, and each "
            "topic had this offset. Processings are told apart by when the topic was created again.",
            icon=":material/restart_alt:")
    labels = {str(i): f"{'the newest topic' if i == 0 else 'an older topic'}: record tapped {t:%Y-%m-%d %H:%M:%S} UTC"
              for i, t in enumerate(times)}
    pick = links.choose("Record of the topic as created", list(labels), param_name="generation", key="rec_gen",
                        format_func=lambda k: labels.get(k, k))
    if pick in (None, "0"):
        return r
    return recs.record(ctx.cur, r["topic"], int(r["partition"]), int(r["offset"]), cluster=r.get("cluster"),
                       nth=int(pick)) or r


def _back() -> None:
    links.set_param("record", None)
    links.set_param("generation", None)
    for key in [k for k in st.session_state if str(k).startswith("rec_rows_")]:
        del st.session_state[key]  # unselect the row, so that it can be opened again
    st.session_state.pop("_rec_picked", None)


def _effects_text(effects: list[dict[str, Any]]) -> str:
    return "; ".join(f"{EFFECT_WORDS.get(e['effect'], e['effect'])} {e['target']}" for e in effects) or "none"


def _processings(ctx: Ctx, r: dict[str, Any]) -> None:
    procs = recs.processings(ctx.cur, r)
    st.markdown("#### Processings")
    if procs.empty:
        st.caption("No consumer span of this record is stored: no traced consumer read it yet, or its consumers "
                   "are not instrumented.")
        return
    counts = procs.groupby("group").size()
    st.caption(" · ".join(f"{md(g)}: {n} processing{'s' if n != 1 else ''}" for g, n in counts.items())
               + (" — read more than once" if (counts > 1).any() else ""))
    procs["outcome"] = procs["failed"].map({True: "failed", False: "ok"})
    procs["side_effects"] = procs["effects"].map(_effects_text)
    procs["trace"] = [_trace_link(t) for t in procs["trace_id"]]
    procs["read_from"] = [t if t != r["topic"] else "" for t in procs["read_from"]]
    cols = ["group", "start_time", "instance", "outcome", "trace", "side_effects", "read_from"]
    if not procs["read_from"].astype(bool).any():  # no copy was read: a column of blanks says nothing
        cols.remove("read_from")
    st.dataframe(procs[cols],
                 hide_index=True, width="stretch", column_config={
                     "group": "Consumer group", "start_time": st.column_config.DatetimeColumn(
                         "At (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
                     "instance": "Instance", "outcome": "Outcome",
                     "side_effects": st.column_config.TextColumn("Side effects", width="medium"),
                     "read_from": "Read from (a copy)",
                     "trace": st.column_config.LinkColumn("Trace", display_text=r"trace=([0-9a-f]{8})")})
    published = recs.produced_by(ctx.cur, [s for e in procs["effects"] for s in recs.effect_spans(e)],
                                 since=pd.Timestamp(procs["start_time"].min()).to_pydatetime())
    if not published.empty:
        st.markdown("**Records its processings published**" + (" — more than one per group: a repeated side effect"
                                                               if len(published) > len(counts) else ""))
        published_table(published)


def _copies(ctx: Ctx, r: dict[str, Any]) -> None:
    copies = recs.dead_letter_copies(ctx.cur, r)
    again = recs.duplicate_publications(ctx.cur, r)
    st.markdown("#### Dead-letter copies and duplicate publications")
    if copies.empty and again.empty:
        st.caption("None: no dead-letter or retry topic holds a copy of it, and its event id was published once.")
        return
    if not copies.empty:
        copies["kind"] = copies["is_dead_letter"].map({True: "dead letter", False: "retry copy"})
        copies["record"] = [links.record_href(t, p, o) for t, p, o in
                            zip(copies["topic"], copies["partition"], copies["offset"], strict=True)]
        st.dataframe(copies[["timestamp", "kind", "topic", "offset", "dlt_origin_group", "dlt_exception_class",
                             "record"]], hide_index=True, width="stretch", column_config={
            "timestamp": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "kind": "Kind", "topic": "Topic", "offset": st.column_config.NumberColumn("Offset", format="%d"),
            "dlt_origin_group": "Group", "dlt_exception_class": "Error",
            "record": st.column_config.LinkColumn("Record", display_text=r"record=([^&]+)")})
    if not again.empty:
        again["kind"] = again["same_payload"].map({True: "published again", False: "id collision (other payload)"})
        recreated = int(r.get("generations") or 1) > 1  # a copy may be an older topic's record at a position
        again["record"] = [links.record_href(t, p, o, generation=(recs.nth_at(ctx.cur, t, p, o, at, cluster=c) or None)
                                             if recreated else None)
                           for c, t, p, o, at in zip(again["cluster"], again["topic"], again["partition"],
                                                     again["offset"], again["tapped_at"], strict=True)]
        st.dataframe(again[["timestamp", "kind", "partition", "offset", "key", "record"]], hide_index=True,
                     width="stretch", column_config={
                         "timestamp": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                         "kind": "Same event id", "partition": st.column_config.NumberColumn("Partition", format="%d"),
                         "offset": st.column_config.NumberColumn("Offset", format="%d"), "key": "Key",
                         "record": st.column_config.LinkColumn("Record", display_text=r"record=([^&]+)")})


def render(ctx: Ctx) -> None:
    rid = links.param("record")
    if rid:
        _detail(ctx, rid)
        st.divider()
    q = _form(ctx)
    if q is not None:
        _results(ctx, q)


run(render, title="Records",
    intro="Search the records the tap stored, and follow one to its trace, its processings, its side effects "
          "and its copies.")
