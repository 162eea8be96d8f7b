"""One colour per service, the same on every page and in every chart.

The colour is a function of the name alone (a stable hash into a fixed palette), not of
which other services a chart happens to show, so "orders-api" is the same colour in a
waterfall, a latency chart and a legend whatever else is drawn beside it. Two services may
share a colour; a chart that draws them together labels them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Mid-tone colours that read on a light and a dark background alike; none is a severity red,
# so an error outline stays distinct.
PALETTE = (
    "#1e88e5", "#fb8c00", "#8e24aa", "#00897b", "#d81b60", "#6d4c41", "#546e7a", "#c0ca33",
    "#00acc1", "#f4511e", "#3949ab", "#7cb342", "#5e35b1", "#ffb300", "#039be5", "#43a047",
    "#ec407a", "#8d6e63", "#26a69a", "#9e9d24",
)
UNKNOWN = "#90a4ae"


def service_colour(service: object) -> str:
    """The colour of a service, fixed by its name."""
    if service is None or not str(service) or str(service) == "?":
        return UNKNOWN
    digest = hashlib.blake2s(str(service).encode(), digest_size=4).digest()
    return PALETTE[int.from_bytes(digest, "big") % len(PALETTE)]


def service_colours(services: Iterable[object]) -> dict[str, str]:
    """Service name → colour, for a chart's color_discrete_map."""
    return {str(s): service_colour(s) for s in services}
