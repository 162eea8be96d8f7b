"""Reading what an AppTest run shows."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def page_text(at: AppTest) -> str:
    """Every piece of visible text of a run, for 'the number is shown' assertions."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error", "success"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    for m in at.metric:
        parts.append(f"{m.label}: {m.value}")
    return "\n".join(parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}
