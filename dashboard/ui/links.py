"""Deep links: the URL's query params select what a page shows.

A page is chosen by its URL path (``/lag``) or by ``?page=lag`` on the root; a finding,
trace, group, topic or record by the params below, so a pasted link opens the same view.
"""

from __future__ import annotations

import streamlit as st

from dashboard.ui.text import md

# The params a page may read; the time filter adds range/from/to (see timerange).
SELECTORS = ("finding", "trace", "span", "group", "topic", "record", "service")


def param(name: str) -> str | None:
    value = st.query_params.get(name)
    return value or None


def set_param(name: str, value: str | None) -> None:
    """Reflect a selection in the URL, so the address bar is a link to this view."""
    if value:
        if st.query_params.get(name) != value:
            st.query_params[name] = value
    elif name in st.query_params:
        del st.query_params[name]


# Choices that follow the user from page to page: a group picked on Event lag is the group
# Redeliveries and Idempotency open on (when they list it), and likewise a topic.
PERSIST = ("group", "topic")


def _remember(param_name: str, key: str) -> None:
    st.session_state[f"_chosen_{param_name}"] = st.session_state.get(key)


def choose(label: str, options: list[str], *, param_name: str, key: str,
           format_func=str, help: str | None = None) -> str | None:
    """A selectbox whose choice follows and sets a deep-link param.

    The URL wins when it names an option (a pasted link); then the group or topic last
    chosen on any page (``PERSIST``), when this page lists it; otherwise the previous
    choice, else the first (worst) option.
    """
    if not options:
        return None
    wanted = param(param_name)
    if wanted is not None and wanted not in options and st.session_state.get(f"_{key}_url") != wanted:
        # A pasted link naming something this window lacks (or made up): say so, as text, where it is seen.
        st.warning(f"The link asks for {md(param_name)} “{md(wanted)}”, which is not among the choices "
                   "in this time range; showing another.", icon=":material/link_off:")
    carried = st.session_state.get(f"_chosen_{param_name}") if param_name in PERSIST else None
    if wanted in options and st.session_state.get(f"_{key}_url") != wanted:
        st.session_state[key] = wanted
        if param_name in PERSIST:
            st.session_state[f"_chosen_{param_name}"] = wanted
    elif carried in options and st.session_state.get(key) != carried:
        st.session_state[key] = carried
    elif st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    choice = st.selectbox(label, options, key=key, format_func=format_func, help=help,
                          on_change=_remember if param_name in PERSIST else None,
                          args=(param_name, key) if param_name in PERSIST else None)
    st.session_state[f"_{key}_url"] = choice
    set_param(param_name, choice)
    return choice


NOTES = "_link_notes"


def note(text: str) -> None:
    """A sentence about the link itself (an unknown page or range), shown atop the page drawn instead.
    ``text`` is Markdown already escaped."""
    st.session_state.setdefault(NOTES, []).append(text)


def show_notes() -> None:
    """Draw and forget the notes about the link (once, on the page it opened)."""
    for text in st.session_state.pop(NOTES, []):
        st.warning(text, icon=":material/link_off:")


def _registered(slug: str) -> str | None:
    from dashboard.pages_registry import PAGES

    return next((path for path, _, _, s, _ in PAGES if s == slug), None)


def _range_params() -> dict[str, str]:
    return {k: st.query_params[k] for k in ("range", "from", "to") if k in st.query_params}


def href(slug: str, **params: object) -> str | None:
    """A relative link to another page with the current time range: for tables' link columns."""
    if not _registered(slug):
        return None
    from urllib.parse import urlencode

    from dashboard.pages_registry import PAGES

    query = {**_range_params(), **{k: str(v) for k, v in params.items() if v is not None}}
    # The default page lives at the root: Streamlit ignores its url path.
    path = "./" if slug == PAGES[0][3] else f"./{slug}"
    return f"{path}?{urlencode(query)}"


def record_href(topic: str, partition: object, offset: object, **params: object) -> str | None:
    """A link to one record's detail on the Records page (`record=topic/partition/offset`)."""
    try:
        rid = f"{topic}/{int(partition)}/{int(offset)}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None  # no position (a NULL offset): nothing to open
    return href("records", record=rid, **params)


def to(slug: str, label: str, *, icon: str | None = None, **params: object) -> None:
    """A link to another page that opens it on the named item (nothing when the page is absent)."""
    path = _registered(slug)
    if path:
        st.page_link(path, label=label, icon=icon,
                     query_params={**_range_params(), **{k: str(v) for k, v in params.items() if v is not None}})


def jump(label: str, *, key: str, icon: str | None = None, **params: object) -> None:
    """A button that reopens the current page on other params, keeping the time range.

    For links within one page (one trace to another): st.page_link to the page already shown
    does not move, so the params are replaced in a callback and the page runs again on them.
    """
    def go() -> None:
        keep = _range_params()
        st.query_params.clear()
        st.query_params.update({**keep, **{k: str(v) for k, v in params.items() if v is not None}})

    st.button(label, key=key, icon=icon, on_click=go)


def title(slug: str) -> str:
    """The menu title of a page."""
    from dashboard.pages_registry import PAGES

    return next((t for _, t, _, s, _ in PAGES if s == slug), slug)
