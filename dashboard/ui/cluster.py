"""The sidebar's cluster choice, shown when the store holds more than one Kafka cluster.

The choice lives in st.session_state (every page's cursor reads it, see state.cursor) and
in the URL (``?cluster=NAME``), so a pasted link shows the same cluster. A link naming a
cluster the store does not hold says so instead of silently showing another.
"""

from __future__ import annotations

import streamlit as st

from dashboard.scope import clusters
from dashboard.ui import state
from dashboard.ui.text import md

KEY = "cluster"
SCOPE = "_cluster_scope"


@st.cache_data(ttl=60, show_spinner=False)
def _known(db: str | None, _cur) -> list[str]:
    return clusters(_cur)


def sidebar() -> None:
    """Offer the clusters when there are several; with one (or none) the pages need no choice."""
    names = _known(state.app_args().db, state.store().cursor())
    wanted = st.query_params.get(KEY)
    if len(names) < 2:
        st.session_state[SCOPE] = None
        if wanted and wanted not in names:
            st.sidebar.warning(f"The link asks for Kafka cluster “{md(wanted)}”, which this store does not hold; "
                               "showing all its data.")
        return
    if wanted and wanted not in names and st.session_state.get("_cluster_url") != wanted:
        st.sidebar.warning(f"The link asks for Kafka cluster “{md(wanted)}”, which this store does not hold "
                           f"(it holds {md(', '.join(names))}); showing {md(names[0])}.")
    elif wanted in names and st.session_state.get("_cluster_url") != wanted:
        st.session_state[KEY] = wanted
    if st.session_state.get(KEY) not in names:
        st.session_state[KEY] = names[0]
    choice = st.sidebar.selectbox("Kafka cluster", names, key=KEY,
                                  help="Every page shows this cluster's records, offsets and lag. "
                                       "Traces carry no cluster and are shown whichever is chosen.")
    st.session_state["_cluster_url"] = choice
    if st.query_params.get(KEY) != choice:
        st.query_params[KEY] = choice
    st.session_state[SCOPE] = choice
