"""Durations on axes and in hover text: ms below two seconds, s above, never "800k ms"."""

from __future__ import annotations

import math

SECONDS_FROM_MS = 2000.0  # an axis reaching this many ms reads in seconds instead


def axis_unit(max_ms: float) -> tuple[str, float, str]:
    """(unit, divisor from ms, plotly tickformat) for an axis whose values reach ``max_ms``.

    The tickformat groups thousands and never uses SI prefixes, so 800 000 ms cannot read
    as "800k"; values that large read in seconds anyway.
    """
    if max_ms is not None and not math.isnan(max_ms) and max_ms >= SECONDS_FROM_MS:
        return "s", 1000.0, ",.3~f"
    return "ms", 1.0, ",.4~f"


def fmt_ms(ms: float | None) -> str:
    """One duration for a label: '0.42 ms', '340 ms', '1.25 s', '95 s', '12.5 min'."""
    if ms is None or (isinstance(ms, float) and math.isnan(ms)):
        return "–"
    if abs(ms) < 1:
        return f"{ms:.2f} ms"
    if abs(ms) < SECONDS_FROM_MS:
        return f"{ms:,.0f} ms"
    if abs(ms) < 120_000:
        return f"{ms / 1000:,.2f} s"
    return f"{ms / 60_000:,.1f} min"
