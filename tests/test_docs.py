"""docs/architecture.md is the map the code points at: every pointer must land on a section,
and every rule the registry holds must be documented (in the spirit of Datasette's test_docs.py)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from dashboard.findings import registry

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SOURCES = ("collectors", "dashboard", "sample_topology", "scripts", "tests", "docs")
SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".md", ".rs", ".toml"}
POINTER = re.compile(r"docs/architecture\.md#([A-Za-z0-9_-]+)")


def slug(title: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes."""
    text = unicodedata.normalize("NFKC", title).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings (fenced code skipped)."""
    out, fenced = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*)", line)):
            out.add(slug(m.group(1)))
    return out


def _files() -> list[Path]:
    found = [ROOT / "README.md"]
    for top in SOURCES:
        found += [p for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and p.is_file()
                  and not {"target", "__pycache__", ".venv"} & set(p.parts)]
    return [p for p in found if p != Path(__file__).resolve()]  # this file names the patterns it seeks


def pointers() -> list[tuple[str, str]]:
    """(file:line, anchor) for every docs/architecture.md#anchor in the repository's text."""
    out = []
    for path in _files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            out += [(f"{path.relative_to(ROOT)}:{n}", a) for a in POINTER.findall(line)]
    return out


def test_slug_is_github_s() -> None:
    assert slug("Exactly once") == "exactly-once"
    assert slug("The store's tables") == "the-stores-tables"
    assert slug("Synchronous call-chain depth") == "synchronous-call-chain-depth"


def test_every_pointer_names_a_section_that_exists() -> None:
    sections = anchors(ARCHITECTURE.read_text(encoding="utf-8"))
    found = pointers()
    assert len(found) > 40  # the code does point here; a broken regex must not pass quietly
    missing = [(where, a) for where, a in found if a not in sections]
    assert not missing, f"pointers to sections docs/architecture.md lacks: {missing}"


def test_links_inside_the_document_land_on_its_sections() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    sections = anchors(text)
    assert not [a for a in re.findall(r"\]\(#([^)]+)\)", text) if a not in sections]


def test_no_pointer_to_the_old_design_numbers_is_left() -> None:
    old = [f"{p.relative_to(ROOT)}" for p in _files() if "DESIGN §" in p.read_text(encoding="utf-8", errors="replace")]
    assert not old, f"cite docs/architecture.md#<section> instead of DESIGN §N in: {old}"


@pytest.mark.parametrize("rule_id", [r.id for r in registry.rules()])
def test_every_registered_rule_is_documented(rule_id: str) -> None:
    docs = ARCHITECTURE.read_text(encoding="utf-8") + (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"\b{rule_id}\b", docs), f"{rule_id} is registered but neither docs/architecture.md nor the README names it"
