"""Record evidence several pages show: who a record is about, and the records a processing published."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.analyses import records
from dashboard.analyses.identity import Identity, identity
from dashboard.ui import links
from dashboard.ui.text import md, md_code

MAX_RECORD_LINKS = 6  # more than this many published records: the table's links only


def identity_markdown(who: Identity) -> str:
    """'**Key** `o-1` · **orderId** `o-1` · **accountId** `acc-7`', every value escaped."""
    parts = [f"**Key** {md_code(who.shown_key)}" if who.key is not None else "**Key** (none)"]
    if who.subject is not None and who.subject != who.key:
        parts.append(f"**Subject** {md_code(who.subject)}")
    parts += [f"**{md(name)}** {md_code(value)}" for name, value in who.ids.items()]
    return " · ".join(parts)


def published_table(published: pd.DataFrame) -> None:
    """Records published as side effects (records.produced_by), with who each is about and a link to it."""
    published = published.assign(
        who=[identity(k, h, v).describe() for k, h, v in zip(published["key"], published["headers"],
                                                              published["value_excerpt"], strict=True)],
        record=[links.record_href(t, p, o) for t, p, o in
                zip(published["topic"], published["partition"], published["offset"], strict=True)],
        event_type=published["event_type"].fillna(""))
    st.dataframe(published[["timestamp", "topic", "partition", "offset", "event_type", "record", "who"]],
                 hide_index=True, width="stretch", column_config={
                     "timestamp": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
                     "topic": "Topic", "partition": st.column_config.NumberColumn("Partition", format="%d"),
                     "offset": st.column_config.NumberColumn("Offset", format="%d"), "event_type": "Event type",
                     "who": st.column_config.TextColumn("About", width="large"),
                     "record": st.column_config.LinkColumn("Record", display_text=r"record=([^&]+)")})
    # A table's link cell opens a new tab; a few side effects (the usual case: two invoices) also
    # get links of their own that open in place, keeping the time range and the choices made.
    if len(published) <= MAX_RECORD_LINKS:
        for r in published.itertuples():
            links.to("records", f"Open the record {md(r.topic)} partition {int(r.partition)} offset {int(r.offset):,}",
                     icon=":material/manage_search:", record=records.record_id(r.topic, int(r.partition), int(r.offset)))


def about(cur, topic: str, positions: list[tuple[int, int]], *, at: datetime | None = None) -> dict | None:
    """Who the record at these positions is about (key, subject, entity ids), and a link to each.
    ``at``: when it was processed; of a topic created again, the record of the generation it was
    in then (the newest without it)."""
    rec = records.record(cur, topic, *positions[0], at=at) if positions else None
    if rec is None:
        st.caption("The tap holds no record of this message, so its key and payload are unknown.")
        return None
    st.markdown(identity_markdown(identity(rec["key"], rec["headers"], rec["value_excerpt"])))
    for n, (p, o) in enumerate(positions):
        links.to("records", f"Open the record {md(topic)} partition {p} offset {o:,}", icon=":material/manage_search:",
                 record=records.record_id(topic, p, o),
                 generation=(records.nth(cur, rec) or None) if n == 0 else generation_param(cur, topic, p, o, at))
    return rec


def generation_param(cur, topic: str, partition: int, offset: int, at: datetime | None) -> int | None:
    """The Records page's ``generation=`` for the record at this position processed at ``at``: None
    but for an older generation of a topic created again."""
    if at is None:
        return None
    return records.nth(cur, records.record(cur, topic, partition, offset, at=at)) or None


def published_by(cur, rec: dict, group: str) -> None:
    """The records the group's processings of `rec` published (repeated side effects show here)."""
    procs = records.processings(cur, rec)
    procs = procs[procs["group"] == group]
    spans = [s for effects in procs["effects"] for s in records.effect_spans(effects)]
    if not spans:
        return
    published = records.produced_by(cur, spans, since=pd.Timestamp(procs["start_time"].min()).to_pydatetime())
    if not published.empty:
        st.markdown(f"**The side effects: {len(published)} record{'s' if len(published) != 1 else ''} "
                    f"{md(group)} published while processing it**")
        published_table(published)
