"""Text from the data, made safe for the Markdown every st.markdown, caption, info and label renders.

Topic, group and service names, event types and ids, headers and finding subjects come from
the cluster: whoever can name a topic must not be able to put a link, an image (fetched by
the viewer's browser), a heading or a Streamlit colour directive on a Seamwatch page. Every
page passes such text through ``md`` (or ``md_code`` for inline code) before it reaches
Markdown; Seamwatch's own formatting (bold, its own links) stays outside these calls.

No Streamlit here: the functions are pure, so charts and tests may use them too.
"""

from __future__ import annotations

import re
import string

# CommonMark lets a backslash escape every ASCII punctuation character, and a backslash
# escape always renders the character itself. Escaping all of them (not a hand-picked
# list) also covers what Streamlit adds to Markdown at parse time: ':red[…]' directives
# and '$…$' maths.
_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# GFM's bare-URL and e-mail autolinks are found in the text after escapes are resolved
# (remark-gfm searches the parsed text for 'https://', 'www.' and 'a@b.c'), so no escape
# stops them. An invisible WORD JOINER inside each marker does: the text reads the same,
# but no longer matches.
_WJ = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9]):(?=//)|(?<![a-z0-9])www(?=\.)|@")
# A line break in a name would start a new block (a heading, a list, a quote): one space.
_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_BACKTICKS = re.compile(r"`+")


def md(value: object) -> str:
    """``value`` as Markdown that renders exactly as its text, on one line."""
    text = _BREAKS.sub(" ", "" if value is None else str(value))
    text = _AUTOLINK.sub(lambda m: m.group(0) + _WJ, text)
    return _PUNCTUATION.sub(r"\\\1", text)


def md_code(value: object) -> str:
    """``value`` as an inline code span, even when it holds backticks.

    A code span ends at the first run of backticks as long as its fence, so the fence is one
    longer than the longest run inside; a space pads content that starts or ends with a
    backtick (CommonMark strips one such space on each side).
    """
    text = _BREAKS.sub(" ", "" if value is None else str(value))
    if not text.strip():
        return md(text) or "\u200b"
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text[0] == " " and text[-1] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
