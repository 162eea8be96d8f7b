"""Burrow's own correctness table, through Seamwatch's status computation.

linkedin/Burrow core/internal/evaluator/caching_test.go, the `tests` list: 12 cases of a
partition's commits (offset, timestamp, lag at commit), the broker's recent end offsets,
the current lag and "now", with the status Burrow's calculatePartitionStatus returns.
Here each case becomes what the lag poller would have written: one snapshot per commit
(its high watermark = offset + lag), one snapshot per broker offset after the last commit
(oldest first; the newest at `timeNow`, the last poll, with high watermark = last offset +
current lag), and the status is read as the Event lag page and the findings read it.

Commits count as Seamwatch counts them: a snapshot whose committed offset moved, or any
snapshot while the group has members. The moving cases are written as a group without
members (only offset moves are commits, as in Burrow's table); the stalled ones (4, 5, 6)
as a group with a member, since a consumer that commits the same offset over and over is a
live one.

Each case expects Burrow's status, or a stricter one with the reason beside it.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from dashboard.analyses import burrow


class Case(NamedTuple):
    commits: list[tuple[int, int, int | None]]  # (offset, timestamp ms, lag at commit or None)
    broker_offsets: list[int]  # newest first, as Burrow keeps them
    current_lag: int
    time_now: int  # seconds
    burrow: str
    seamwatch: str
    members: int = 0
    why: str = ""


def _five(offsets, lags):  # type: ignore[no-untyped-def]
    return [(o, 100_000 * (i + 1), lag) for i, (o, lag) in enumerate(zip(offsets, lags, strict=True))]


_SEQ = [(792748079 + i, ts, 0) for i, ts in enumerate(
    (1512224618356, 1512224619362, 1512224620366, 1512224621367, 1512224622370, 1512224623373, 1512224624378,
     1512224625379, 1512224626383, 1512224627383, 1512224628383, 1512224629388, 1512224630391, 1512224631394,
     1512224632397))]

CASES = [
    # 0 - zero lag somewhere in the window
    Case(_five([1000, 2000, 3000, 4000, 5000], [0, 50, 100, 150, 200]), [5200], 200, 600, "OK", "OK"),
    # 1 - Burrow: not stopped, 400 s since the last commit equals the 400 s the window spans
    Case(_five([1000, 2000, 3000, 4000, 5000], [0, 50, 100, 150, 200]), [5200], 200, 900, "OK", "STOP",
         why="stricter: 200 messages wait and nothing was committed for 400 s, more than twice the "
             "partition's slowest commit interval (100 s)"),
    # 2 - STOP even though lag was zero at the start (Burrow #290)
    Case(_five([1000, 2000, 3000, 4000, 5000], [0, 50, 100, 150, 200]), [5200], 200, 1000, "STOP", "STOP"),
    # 3 - STOP with lag always non-zero
    Case(_five([1000, 2000, 3000, 4000, 5000], [50, 100, 150, 200, 250]), [5250], 250, 1000, "STOP", "STOP"),
    # 4 - OK because of zero lag at the first commit, although the offset never moves
    Case(_five([1000] * 5, [0, 50, 100, 150, 200]), [1200], 200, 600, "OK", "OK", members=1),
    # 5 - STALL: the same offset, lag always non-zero
    Case(_five([1000] * 5, [100, 150, 200, 250, 300]), [1300], 300, 600, "STALL", "STALL", members=1),
    # 6 - STALL even when the lag stays the same
    Case(_five([1000] * 5, [100] * 5), [1100], 100, 600, "STALL", "STALL", members=1),
    # 7 - REWIND: the offsets go backwards, even though the lag decreases
    Case(_five([1000, 2000, 3000, 2000, 4000], [100, 150, 200, 1250, 300]), [4300], 300, 600, "REWIND", "REWIND"),
    # 8 - OK: the current lag is zero, although the timestamps say stopped
    Case(_five([1000, 2000, 3000, 4000, 5000], [50, 100, 150, 200, 250]), [5250], 0, 1000, "OK", "OK"),
    # 9 - STOP: current lag from new data, lag zero at every commit (#290)
    Case(_SEQ, [792749024, 792749000, 792748800, 792748600, 792748500], 931, 1512224650, "STOP", "STOP"),
    # 10 - OK: within the recent broker offsets the lag was zero (#303)
    Case(_SEQ, [792748094, 792748093, 792748093, 792748093], 1, 1512224650, "OK", "OK"),
    # 11 - case 0 with commits whose lag is unknown (no broker offset at the time)
    Case([(1000 + 500 * i, 100_000 + 50_000 * i, None if i % 2 else 50 * (i // 2)) for i in range(10)], [5700], 200,
         600, "OK", "OK"),
]


def _write(data, case: Case) -> None:  # type: ignore[no-untyped-def]
    t0 = case.commits[0][1]
    group = "case"
    for offset, ts, lag in case.commits:
        data.poll(group, "t", 0, offset, at=(ts - t0) / 1000, members=case.members,
                  high_watermark=offset + lag if lag is not None else offset)
        if lag is None:  # the poller saw no end offset at that commit
            data.offsets[-1]["high_watermark"] = None
    last_offset, last_ts = case.commits[-1][0], case.commits[-1][1]
    now = case.time_now * 1000
    ends = list(reversed(case.broker_offsets))[:-1] + [last_offset + case.current_lag]
    for j, end in enumerate(ends, start=1):
        at = last_ts + (now - last_ts) * j / len(ends)
        data.poll(group, "t", 0, last_offset, at=(at - t0) / 1000, members=case.members, high_watermark=end)
    data.write()


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_burrow_evaluator_table(case: Case, data, store, window) -> None:
    assert case.seamwatch == case.burrow or case.why.startswith("stricter: ")
    _write(data, case)
    part = burrow.partition_status(store.cursor(), window).iloc[0]
    assert part["status"] == case.seamwatch, part.to_dict()
    # as judged when the last poll arrived, too (the status over time and the findings read that)
    over = burrow.status_over_time(store.cursor(), window)
    assert over["status"].iloc[-1] == case.seamwatch
    if case.seamwatch != "OK":
        assert part["reason"], "a partition that is not OK says why"


def test_the_table_is_burrows_twelve_cases() -> None:
    assert len(CASES) == 12
    assert [c.burrow for c in CASES] == ["OK", "OK", "STOP", "STOP", "OK", "STALL", "STALL", "REWIND", "OK", "STOP",
                                         "OK", "OK"]
