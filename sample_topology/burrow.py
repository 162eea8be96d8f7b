"""Burrow's partition rules over offset snapshots, to say what lag status the plan implies.

Used to write the golden file, and to check that healthy groups stay OK under both
readings of Burrow's "lag is increasing" rule (non-decreasing, strictly increasing), so an
analysis that picks either agrees with the golden.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WINDOW = 10
ORDER = {"OK": 0, "WARN": 1, "ERR": 2}


def partition_status(window: list[tuple[int, int]], *, strict: bool) -> str:
    """Status of one partition from its last WINDOW (committed offset, lag) points."""
    if len(window) < WINDOW:
        return "OK"
    offsets = [o for o, _ in window]
    lags = [lag for _, lag in window]
    if lags[-1] == 0 or any(lag == 0 for lag in lags):
        return "OK"
    if any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
        return "REWIND"
    if all(b == a for a, b in zip(offsets, offsets[1:], strict=False)):
        return "STALL"
    rising = all((b > a) if strict else (b >= a) for a, b in zip(lags, lags[1:], strict=False))
    return "WARN" if rising else "OK"


def group_level(status: str) -> str:
    return status if status in ("OK", "WARN") else "ERR"


def evaluate(snapshots: Iterable[dict[str, Any]], *, strict: bool) -> dict[str, list[tuple[int, str, dict[str, str]]]]:
    """Per group, [(time, group status, {topic/partition: partition status})] at every snapshot time."""
    series: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    by_time: dict[int, list[dict[str, Any]]] = {}
    for s in snapshots:
        by_time.setdefault(s["at"], []).append(s)
    out: dict[str, list[tuple[int, str, dict[str, str]]]] = {}
    for t in sorted(by_time):
        statuses: dict[str, dict[str, str]] = {}
        for s in by_time[t]:
            key = (s["group_id"], s["topic"], s["partition"])
            pts = series.setdefault(key, [])
            pts.append((s["committed_offset"], s["high_watermark"] - s["committed_offset"]))
            statuses.setdefault(s["group_id"], {})[f"{s['topic']}/{s['partition']}"] = partition_status(
                pts[-WINDOW:], strict=strict)
        for group, parts in statuses.items():
            worst = max((group_level(v) for v in parts.values()), key=ORDER.__getitem__)
            out.setdefault(group, []).append((t, worst, parts))
    return out
