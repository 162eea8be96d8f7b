"""Issue 10, cases 18–19: names from the data and query params never act as Markdown.

Every page runs under AppTest over the sample shop whose names carry an image, a phishing
link, a backtick break-out, Streamlit directives and HTML. Every text element of the run is
rendered with a CommonMark renderer (markdown-it-py, the reference behaviour Streamlit's
renderer follows): no link, no image, and each hostile name must read exactly as written.
"""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dashboard.pages_registry import PAGES
from tests.support.apptest import app_over
from tests.support.hostile_store import EVIL, HOSTILE

_MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
# remark-gfm's autolink literals (mdast-util-gfm-autolink-literal): a scheme, 'www.', or an address.
BARE_LINK = re.compile(r"(?i)(https?://|(?<![\w.])www\.[\w-]|[\w.+-]@[\w-]+\.[\w-])")
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# Element kinds whose text Streamlit renders as Markdown.
_MARKDOWN_KINDS = ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success")
# A deep link per page that selects the hostile item where the page has a choice.
_STEER = {
    "event-design": {"topic": HOSTILE["shop.orders"]},
    "lag": {"group": HOSTILE["fulfillment"]},
    "redeliveries": {"group": HOSTILE["fulfillment"]},
    "records": {"record": f"{HOSTILE['shop.orders']}/0/0"},
}


@pytest.fixture
def app(hostile_db: Path, monkeypatch: pytest.MonkeyPatch):
    with app_over(hostile_db, monkeypatch, timeout=90) as at:
        yield at


def markdown_sources(at: AppTest) -> list[str]:
    """The Markdown source of every element, label and link label of a run that Streamlit renders as Markdown."""
    out = [str(e.value) for kind in _MARKDOWN_KINDS for e in getattr(at, kind)]
    out += [m.label for m in at.metric]
    out += [e.proto.label for e in at.get("page_link")]
    out += [t.label for t in at.toggle]
    return out


def check_literal(source: str) -> str:
    """Render one Markdown source; fail on any link, image or Streamlit extra from the data.
    Returns the rendered text (tags dropped, entities decoded)."""
    html = _MD.render(source)
    assert "<a " not in html and "<img" not in html, f"markup from the data rendered: {source!r} → {html!r}"
    # What CommonMark does not know but Streamlit's renderer does. GFM's bare-URL and e-mail
    # autolinks are searched in the rendered text (escapes resolved), outside code:
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<code>.*?</code>", "", html, flags=re.S)))
    assert not BARE_LINK.search(text), f"a bare URL or address would be autolinked: {source!r}"
    # ':red[…]' directives and '$…$' maths are syntax: outside code spans they must be escaped.
    prose = _CODE_SPAN.sub("", source)
    assert not re.search(r"(?<!\\):red\\?\[", prose), f"a colour directive would apply: {source!r}"
    assert not re.search(r"(?<!\\)\$", prose), f"'$' would start maths: {source!r}"
    # The invisible word joiner that defuses autolinks is not part of what a reader sees.
    return html_lib.unescape(re.sub(r"<[^>]+>", "", html)).replace("\u2060", "")


def _open(app: AppTest, slug: str, **params: str) -> AppTest:
    app.query_params["range"] = "all"
    for k, v in params.items():
        app.query_params[k] = v
    at = app.run()
    path = next(p for p, _, _, s, _ in PAGES if s == slug)
    if slug != PAGES[0][3]:
        at.switch_page(path)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("slug", [p[3] for p in PAGES])
def test_every_page_renders_hostile_names_as_text(app: AppTest, slug: str) -> None:
    at = _open(app, slug, **_STEER.get(slug, {}))
    rendered = "\n".join(check_literal(source) for source in markdown_sources(at))
    # Every name was replaced in the data, so each time a page shows one, it must show all of
    # it: a shorter count means markup (a code span, emphasis) swallowed part of a name.
    broken = {name: (rendered.count(name), rendered.count(hostile))
              for name, hostile in HOSTILE.items() if rendered.count(name) != rendered.count(hostile)}
    assert not broken, f"hostile names not shown as written on {slug} (shown, intact): {broken}"
    assert not at.error, [e.value for e in at.error]


def test_hostile_names_are_shown_literally_somewhere(app: AppTest) -> None:
    """The suite is only worth something if the names do reach Markdown: the pages' text together
    shows each of them, verbatim (payments-api and email-service reach only tables and charts)."""
    rendered = ""
    for slug in (p[3] for p in PAGES):
        at = _open(app, slug, **_STEER.get(slug, {}))
        rendered += "\n".join(check_literal(s) for s in markdown_sources(at))
    missing = [HOSTILE[k] for k in ("shop.orders", "orders-api", "fulfillment", "OrderCreated")
               if HOSTILE[k] not in rendered]
    assert not missing, f"never shown verbatim in any page's Markdown: {missing}"


PHISHING = f"[Session expired](https://{EVIL}/login)"


def test_a_crafted_trace_link_shows_no_link(app: AppTest) -> None:
    """Case 19: /call-chains?range=all&trace=[Session expired](https://evil.example/login)."""
    at = _open(app, "call-chains", trace=PHISHING)
    rendered = "\n".join(check_literal(source) for source in markdown_sources(at))
    assert f"The link's trace {PHISHING} is not a trace id" in rendered
    assert at.query_params.get("trace") != PHISHING, "the address bar no longer carries the crafted text"


@pytest.mark.parametrize("slug,param", [("lag", "group"), ("event-design", "topic"), ("findings", "finding")])
def test_a_link_naming_something_unknown_says_so_in_plain_text(app: AppTest, slug: str, param: str) -> None:
    at = _open(app, slug, **{param: PHISHING})
    rendered = "\n".join(check_literal(source) for source in markdown_sources(at))
    assert f"The link asks for {param} “{PHISHING}”, which is not among the choices" in rendered
