"""Seamwatch dashboard entry: `streamlit run dashboard/app.py -- --db FILE`.

A frame around the pages: navigation, the shared time filter, and one clear sentence
instead of a page when the store cannot be opened. No SQL here (docs/architecture.md#data-flow).
"""

from __future__ import annotations

import streamlit as st

from collectors.errors import SeamwatchError
from dashboard.pages_registry import PAGES
from dashboard.ui import cluster, links, state, timerange
from dashboard.ui.page import explain
from dashboard.ui.text import md

st.set_page_config(page_title="Seamwatch", page_icon=":material/hub:", layout="wide")

# ?page=<url path> on the root selects the page too, so a link may name it either way.
_requested = st.query_params.get("page")
_slugs = [slug for _, _, _, slug, _ in PAGES]
_default = _requested if _requested in _slugs else _slugs[0]
if _requested and _requested not in _slugs and st.session_state.get("_page_unknown") != _requested:
    # An unknown page in a link: say so on the page shown instead (once per link).
    links.note(f"The link asks for page “{md(_requested)}”, which does not exist; showing "
               f"{md(next(t for _, t, _, slug, _ in PAGES if slug == _default))} instead. "
               f"The pages: {md(', '.join(_slugs))}.")
    st.session_state["_page_unknown"] = _requested
_sections: dict[str, list[st.Page]] = {}
for path, title, icon, slug, section in PAGES:
    _sections.setdefault(section, []).append(
        st.Page(path, title=title, icon=icon, url_path=slug, default=slug == _default)
    )
page = st.navigation(_sections)

st.sidebar.markdown("**Seamwatch** · sync APIs and Kafka events")
timerange.sidebar()

try:
    state.store()
    cluster.sidebar()
except SeamwatchError as exc:
    st.error(md(explain(exc)))
    st.stop()
except Exception as exc:  # noqa: BLE001 - a damaged file must read as a sentence, not a traceback
    st.error(md(explain(exc)))
    st.stop()

page.run()
