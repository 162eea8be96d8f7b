"""LAG_NEAR_RETENTION: a group whose time lag nears the age at which its topic's retention deletes
records, judged by the settings the tap read (topic_configs)."""

from __future__ import annotations

from dashboard.findings.model import duration
from tests.support.rules import rule_findings


def test_groups_nearing_their_topics_retention_are_found_with_the_time_left(data, store, window):
    """Each topic's end grows 10 offsets a second. billing stands 50 s behind on shop.orders, kept
    60 s (83 %: error, 10 s left); audit 40 s behind on shop.orders (67 %: warning); email 50 s
    behind on shop.emails, kept forever; fast 5 s behind; nothing is known of shop.unknown."""
    for topic in ("shop.orders", "shop.emails", "shop.unknown"):
        for s in range(0, 61, 10):
            data.end_offset(topic, 0, s * 10, at=s)
    data.poll("billing", "shop.orders", 0, 100, at=60, high_watermark=600)
    data.poll("audit", "shop.orders", 0, 200, at=60, high_watermark=600)
    data.poll("fast", "shop.orders", 0, 550, at=60, high_watermark=600)
    data.poll("email", "shop.emails", 0, 100, at=60, high_watermark=600)
    data.poll("lost", "shop.unknown", 0, 0, at=60, high_watermark=600)
    data.settings("shop.orders", retention_ms=60_000)
    data.settings("shop.emails", retention_ms=-1)
    data.write()

    found = {f.subject: f for f in rule_findings(store.cursor(), window, None, "LAG_NEAR_RETENTION")}
    assert sorted(found) == ["audit", "billing"]
    assert found["billing"].severity == "error" and found["audit"].severity == "warning"
    assert found["billing"].summary == ("billing is 50 s behind on shop.orders, whose records are deleted after "
                                        "1 min (83% of it): its oldest unread records are deleted in about 10 s "
                                        "unless it catches up")
    assert found["billing"].evidence["partitions"][0]["retention_s"] == 60


def test_a_store_without_topic_settings_judges_nothing(data, store, window):
    data.poll("billing", "shop.orders", 0, 0, at=60, high_watermark=600)
    data.write()
    store.cursor().execute("DROP TABLE topic_configs")
    assert rule_findings(store.cursor(), window, None, "LAG_NEAR_RETENTION") == []


def test_durations_read_in_one_unit():
    assert [duration(s) for s in (45, 600, 5400, 7 * 86400, 36 * 3600, 55.2 * 365.25 * 86400, 800 * 86400)] == [
        "45 s", "10 min", "1.5 h", "7 days", "36 h", "55.2 years", "2.2 years"]
