"""The escaping helpers on their own: whatever a name holds, Markdown shows it as written."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from dashboard.ui.text import md, md_code
from tests.hostile.test_dashboard_markdown import BARE_LINK

_MD = MarkdownIt("commonmark")
NAMES = [
    "plain-name", "a`b", "``double`` and `single`", "`starts", "ends`", "` both `", "![x](https://evil.example/i.png)",
    "[Session expired](https://evil.example/login)", "<https://evil.example>", "**bold** _em_ ~~s~~", "# heading",
    "- item", "1. item", "> quote", "a\nb\r\n# c", "back\\slash\\", "&amp; &lt;b&gt;", "| a | b |", "$x^2$",
    "https://evil.example/x", "see www.evil.example", "mail a@evil.example",
    ":red[alert] :material/home:", "[x]: https://evil.example", "   ",
]


def _text(source: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", _MD.renderInline(source)))


@pytest.mark.parametrize("name", NAMES)
def test_md_renders_the_name_as_written(name: str) -> None:
    rendered = _MD.render(md(name))
    assert "<a " not in rendered and "<img" not in rendered
    assert not re.search(r"<(h\d|ul|ol|li|blockquote|em|strong|code|table|hr)\b", rendered), rendered
    assert not BARE_LINK.search(_text(md(name))), "GFM would autolink it in Streamlit"
    assert _text(md(name)).replace("\u2060", "") == re.sub(r"[\r\n]+", " ", name)


@pytest.mark.parametrize("name", [n for n in NAMES if n.strip()])
def test_md_code_is_one_code_span_holding_the_name(name: str) -> None:
    rendered = _MD.renderInline(md_code(name))
    assert re.fullmatch(r"<code>[^<]*</code>", rendered), rendered
    shown = html.unescape(rendered[len("<code>"):-len("</code>")])
    assert shown == re.sub(r"[\r\n]+", " ", name)


def test_own_formatting_around_escaped_names_still_renders() -> None:
    rendered = _MD.renderInline(f"**Group:** {md('**x**')} and {md_code('a`b')}")
    assert rendered == "<strong>Group:</strong> **x** and <code>a`b</code>"
