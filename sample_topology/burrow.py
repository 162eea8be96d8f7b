"""Consumer status rules over offset snapshots, to say what lag status the plan implies.

An independent model of collectors/derive/consumer.py (the README's "Consumer status"
section states the rules), used to write the golden file and to check that healthy groups
stay OK under both readings of Burrow's "lag is increasing" rule (non-decreasing, strictly
increasing), so an analysis that picks either agrees with the golden.

Per partition, a snapshot is a commit when its committed offset moved or the group has
members; the window is the last WINDOW commits, partial windows included. In order:
current lag 0 → OK; members all gone (after having had some) → STOP; owing messages with no
commit for longer than STOP_FACTOR × the slowest commit interval of the group's windows (or
STOP_DEFAULT with one commit) → STOP; Burrow's now − last > last − first, unless caught up
at one of the last WINDOW polls after the last commit → STOP; lag 0 at a commit → OK;
offsets backwards → REWIND; fewer than MIN_TREND commits → OK; same offset → STALL; lag never
falling → WARN; else OK. (The sample's snapshots are 15 s apart, far above Burrow's 1 s
min-distance, so commits never merge here.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

WINDOW = 10
MIN_TREND = WINDOW // 2
STOP_FACTOR = 2
STOP_DEFAULT_US = 30_000_000
ORDER = {"OK": 0, "WARN": 1, "ERR": 2}


@dataclass
class _Partition:
    polls: list[tuple[int, int, int, int]] = field(default_factory=list)  # (at, offset, end offset, members)
    commits: list[tuple[int, int, int]] = field(default_factory=list)  # (at, offset, lag)
    had_members: bool = False
    caught: tuple[int, int | None] | None = None  # (poll index, index of the poll after it) when last caught up


def _trend(commits: list[tuple[int, int, int]], *, strict: bool) -> str:
    offsets = [o for _, o, _ in commits]
    lags = [lag for _, _, lag in commits]
    if any(lag == 0 for lag in lags):
        return "OK"
    if any(b < a for a, b in zip(offsets, offsets[1:], strict=False)):
        return "REWIND"
    if len(commits) < MIN_TREND:
        return "OK"
    if all(b == a for a, b in zip(offsets, offsets[1:], strict=False)):
        return "STALL"
    rising = all((b > a) if strict else (b >= a) for a, b in zip(lags, lags[1:], strict=False))
    return "WARN" if rising else "OK"


def _cadence(commits: list[tuple[int, int, int]]) -> int | None:
    gaps = [b[0] - a[0] for a, b in zip(commits, commits[1:], strict=False)]
    return max(gaps) if gaps else None


def _status(p: _Partition, group_cadence: int | None, members: int, *, strict: bool) -> str:
    now, offset, end, _ = p.polls[-1]
    window = p.commits[-WINDOW:]
    if not window or end - offset <= 0:
        return "OK"
    if members == 0 and p.had_members:
        return "STOP"
    last, first = window[-1][0], window[0][0]
    owing = p.polls[p.caught[1]][0] if p.caught and p.caught[1] is not None else None
    stuck_since = max(last, owing) if owing is not None else last
    stop_after = STOP_FACTOR * group_cadence if group_cadence is not None else STOP_DEFAULT_US
    if now - stuck_since > stop_after:
        return "STOP"
    recent_zero = (p.caught is not None and p.polls[p.caught[0]][0] > last
                   and len(p.polls) - 1 - p.caught[0] < WINDOW)
    if now - last > last - first and not recent_zero:
        return "STOP"
    return _trend(window, strict=strict)


def group_level(status: str) -> str:
    return status if status in ("OK", "WARN") else "ERR"


def evaluate(snapshots: Iterable[dict[str, Any]], *, strict: bool) -> dict[str, list[tuple[int, str, dict[str, str]]]]:
    """Per group, [(time, group status, {topic/partition: partition status})] at every snapshot time."""
    parts: dict[tuple[str, str, int], _Partition] = {}
    by_time: dict[int, list[dict[str, Any]]] = {}
    for s in snapshots:
        by_time.setdefault(s["at"], []).append(s)
    out: dict[str, list[tuple[int, str, dict[str, str]]]] = {}
    for t in sorted(by_time):
        for s in by_time[t]:
            p = parts.setdefault((s["group_id"], s["topic"], s["partition"]), _Partition())
            o, end, members = s["committed_offset"], s["high_watermark"], s["members"] or 0
            if p.caught is not None and p.caught[1] is None:
                p.caught = (p.caught[0], len(p.polls))  # this poll follows the last caught-up one
            moved = not p.polls or p.polls[-1][1] != o
            p.polls.append((t, o, end, members))
            p.had_members = p.had_members or members > 0
            if moved or members > 0:
                p.commits.append((t, o, max(end - o, 0)))
            if end <= o:
                p.caught = (len(p.polls) - 1, None)
        cadences: dict[str, int | None] = {}
        for s in by_time[t]:
            c = _cadence(parts[(s["group_id"], s["topic"], s["partition"])].commits[-WINDOW:])
            prev = cadences.get(s["group_id"])
            cadences[s["group_id"]] = c if prev is None else prev if c is None else max(prev, c)
        statuses: dict[str, dict[str, str]] = {}
        for s in by_time[t]:
            p = parts[(s["group_id"], s["topic"], s["partition"])]
            statuses.setdefault(s["group_id"], {})[f"{s['topic']}/{s['partition']}"] = _status(
                p, cadences[s["group_id"]], s["members"] or 0, strict=strict)
        for group, sts in statuses.items():
            worst = max((group_level(v) for v in sts.values()), key=ORDER.__getitem__)
            out.setdefault(group, []).append((t, worst, sts))
    return out
