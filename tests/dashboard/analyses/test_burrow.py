"""Burrow's consumer status rules over synthetic commit windows written as offset polls."""

from __future__ import annotations

from dashboard.analyses import burrow
from dashboard.findings.registry import rule


def _polls(data, group, partition, rows, *, members=1):
    """rows: (seconds, committed, high watermark)."""
    for sec, committed, hwm in rows:
        data.poll(group, "shop.orders", partition, committed, at=sec, high_watermark=hwm, members=members,
                  state="Stable" if members else "Empty")


def _status(store, window, group):
    parts = burrow.partition_status(store.cursor(), window, group=group)
    return dict(zip(parts["partition"], parts["status"], strict=True))


def test_each_burrow_status(data, store, window):
    ten = range(0, 100, 10)
    # OK: lag touched zero inside the window
    _polls(data, "ok", 0, [(s, 10 * s, 10 * s + (0 if s == 50 else 5)) for s in ten])
    # OK: lag not zero but shrinking somewhere (catching up)
    _polls(data, "ok", 1, [(s, 10 * s, 10 * s + 100 - s) for s in ten])
    # WARN: offsets advance, lag never decreases
    _polls(data, "warn", 0, [(s, 5 * s, 10 * s + 10) for s in ten])
    # STALL: committing the same offset while lag stands
    _polls(data, "stall", 0, [(s, 300, 400 + s) for s in ten])
    # REWIND: the committed offset goes backwards
    _polls(data, "rewind", 0, [(s, 500 - (200 if s == 60 else 0) + s, 1000 + s) for s in ten])
    data.write()

    assert _status(store, window, "ok") == {0: "OK", 1: "OK"}
    assert _status(store, window, "warn") == {0: "WARN"}
    assert _status(store, window, "stall") == {0: "STALL"}
    assert _status(store, window, "rewind") == {0: "REWIND"}

    groups = burrow.group_statuses(store.cursor(), window).set_index("group_id")
    # ERR is the group's status when a partition stalled or rewound
    assert groups["status"].to_dict() == {"ok": "OK", "rewind": "ERR", "stall": "ERR", "warn": "WARN"}
    assert groups.loc["stall", "worst_partition_status"] == "STALL"


def test_stop_when_the_last_commit_is_older_than_the_window_is_long(data, store, window):
    # ten commits over 90 s, then the group has no members: the poller still sees it
    _polls(data, "stop", 0, [(s, 10 * s, 10 * s + 50) for s in range(0, 100, 10)])
    _polls(data, "stop", 0, [(s, 900, 1000) for s in range(100, 200, 10)], members=0)
    data.write()
    assert _status(store, window, "stop") == {0: "STOP"}
    group = burrow.group_statuses(store.cursor(), window).iloc[0]
    assert (group["status"], group["worst_partition_status"]) == ("ERR", "STOP")
    # at 180 s, 90 s since the last commit is not more than the 90 s the window spans (Burrow
    # would still say WARN), but the members are gone while 100 messages wait: stricter, STOP
    early = burrow.partition_status(store.cursor(), type(window)(window.start, data.at(180.5)))
    assert early["status"].tolist() == ["STOP"]
    assert early["reason"].iloc[0] == "no members: every consumer left the group while 100 messages wait"


def test_a_partial_window_is_judged_as_burrow_does(data, store, window):
    # five commits of the same offset by a live member while lag grows: Burrow's STALL, not OK
    _polls(data, "new", 0, [(s, 5, 50 + s) for s in range(0, 50, 10)])
    data.write()
    assert _status(store, window, "new") == {0: "STALL"}


def test_group_is_its_worst_partition(data, store, window):
    ten = range(0, 100, 10)
    _polls(data, "g", 0, [(s, 10 * s, 10 * s) for s in ten])
    _polls(data, "g", 1, [(s, 5 * s, 10 * s + 10) for s in ten])
    _polls(data, "g", 2, [(s, 7, 7) for s in ten])  # idle and caught up
    data.write()
    g = burrow.group_statuses(store.cursor(), window).iloc[0]
    assert (g["status"], g["non_ok_partitions"], g["max_lag_partition"]) == ("WARN", 1, 1)


def test_commits_closer_than_min_distance_replace_the_previous(data, store, window):
    # two polls 0.5 s apart are one commit in Burrow's window (the later offset, the earlier time)
    _polls(data, "g", 0, [(0, 10, 20), (0.5, 12, 30)] + [(s, 2 * s, 3 * s + 30) for s in range(10, 100, 10)])
    data.write()
    part = burrow.partition_status(store.cursor(), window, group="g").iloc[0]
    assert list(part["window_offsets"]) == [12, *range(20, 200, 20)]
    assert part["first_commit"] == data.at(0)
    assert part["status"] == "WARN"


def test_sliding_status_over_time(data, store, window):
    # healthy for a minute, then slow: WARN appears once the window holds only rising lag
    rows = [(s, 10 * s, 10 * s) for s in range(0, 60, 5)]
    rows += [(60 + s, 600 + 2 * s, 600 + 10 * s + 5) for s in range(0, 100, 5)]
    _polls(data, "g", 0, rows)
    data.write()
    over = burrow.status_over_time(store.cursor(), window, group="g")
    statuses = over["status"].tolist()
    assert statuses[:13] == ["OK"] * 13
    assert statuses[-1] == "WARN"
    first_warn = over.loc[over["status"] == "WARN", "at"].min()
    assert first_warn == data.at(60 + 5 * 9)  # ten commits after the last zero lag


def test_declared_limits_raise_consumer_lag_whatever_burrow_says(data, store, window):
    from collectors.topology import parse_topology

    topo = parse_topology({
        "services": {"svc": {}}, "topics": {"shop.orders": {"producer": "svc"}},
        "groups": {"busy": {"service": "svc", "topics": ["shop.orders"], "max_lag_messages": 80,
                            "max_time_lag": "5s"},
                   "relaxed": {"service": "svc", "topics": ["shop.orders"], "max_lag_messages": 500,
                               "max_time_lag": "1m"}}})
    # 10 messages a second; the consumer keeps 90-100 messages (9-10 s) behind, catching up now
    # and then: Burrow's rules say OK (the lag falls between commits)
    for group in ("busy", "relaxed"):
        _polls(data, group, 0, [(s, 10 * s - (100 if (s // 10) % 2 else 90), 10 * s) for s in range(10, 200, 10)])
    data.write()
    assert _status(store, window, "busy") == {0: "OK"}
    found = {f.subject: f for f in rule("CONSUMER_LAG").findings(store.cursor(), window, topo)}
    assert set(found) == {"busy"}  # relaxed stays within what it declared
    f = found["busy"]
    assert (f.rule, f.severity, f.evidence["status"]) == ("CONSUMER_LAG", "error", "OK")
    limits = f.evidence["limits"]
    assert (limits["max_lag_messages"], limits["lag_seen"]) == (80, 100)
    assert limits["max_time_lag_s"] == 5.0 and 9.0 <= limits["time_lag_seen_s"] <= 10.0
    assert f.first_seen == data.at(10) and f.last_seen == data.at(190)
    assert "declared max_lag_messages 80" in f.summary and "max_time_lag 5s" in f.summary


def test_topology_limits_are_validated():
    import pytest

    from collectors.errors import ConfigError
    from collectors.topology import parse_topology

    def group(**limits):
        return {"services": {"svc": {}}, "topics": {"t": {"producer": "svc"}},
                "groups": {"g": {"service": "svc", "topics": ["t"], **limits}}}

    assert parse_topology(group(max_time_lag="250ms")).groups["g"].max_time_lag_seconds == 0.25
    assert parse_topology(group(max_time_lag="2m", max_lag_messages=0)).groups["g"].max_time_lag_seconds == 120
    with pytest.raises(ConfigError, match=r"group 'g' max_time_lag: must be a duration like 30s, 5m or 1h, not 30"):
        parse_topology(group(max_time_lag=30))
    with pytest.raises(ConfigError, match=r"max_lag_messages must be a non-negative integer, not 'many'"):
        parse_topology(group(max_lag_messages="many"))
