"""Markdown source as a reader sees it: pages escape names from the data (dashboard.ui.text),
so tests that look for a sentence compare against the text, not the escaped source."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def as_read(source: str) -> str:
    """Backslash escapes resolved and the invisible word joiners (which defuse autolinks) dropped."""
    return _ESCAPE.sub(r"\1", source).replace("\u2060", "")
