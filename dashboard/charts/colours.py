"""One colour per service, the same on every page and in every chart.

The declared services (the topology file's, sorted by name) take the palette's colours in
turn, so a shop of up to twenty services has no two alike; the page frame declares them
once per run (:func:`declare`). Any other service takes a colour from a stable hash of its
name. Either way the colour does not depend on which other services a chart happens to
show, so "orders-api" is the same colour in a waterfall, a latency chart and a legend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Mid-tone colours that read on a light and a dark background alike, neighbours far apart in
# hue; none is a severity red, so an error outline stays distinct.
PALETTE = (
    "#1e88e5", "#fb8c00", "#8e24aa", "#43a047", "#ec407a", "#00acc1", "#8d6e63", "#c0ca33",
    "#3949ab", "#ffb300", "#00897b", "#ba68c8", "#78909c", "#7cb342", "#f06292", "#4fc3f7",
    "#a1887f", "#9e9d24", "#5c6bc0", "#ffd54f",
)
UNKNOWN = "#90a4ae"
_declared: dict[str, str] = {}


def declare(services: Iterable[object]) -> None:
    """Give the declared services the palette's colours in name order (the same set always
    gets the same colours); called by the page frame with the stored topology's services."""
    names = sorted({str(s) for s in services if s is not None})
    wanted = {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    if wanted != _declared:
        _declared.clear()
        _declared.update(wanted)


def service_colour(service: object) -> str:
    """The colour of a service, fixed by its name."""
    if service is None or not str(service) or str(service) == "?":
        return UNKNOWN
    if str(service) in _declared:
        return _declared[str(service)]
    digest = hashlib.blake2s(str(service).encode(), digest_size=4).digest()
    return PALETTE[int.from_bytes(digest, "big") % len(PALETTE)]


def service_colours(services: Iterable[object]) -> dict[str, str]:
    """Service name → colour, for a chart's color_discrete_map."""
    return {str(s): service_colour(s) for s in services}
