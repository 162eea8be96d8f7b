"""Each topic's settings as the tap or the lag poller last read them from the cluster (`topic_configs`,
migration 019; collectors/kafka/topic_settings.py): the newest row of a (cluster, topic) is its settings. The
event-design audit reads the cleanup policy (a compacted topic holds states), the lag analyses
the retention (LAG_NEAR_RETENTION)."""

from __future__ import annotations

import duckdb

from dashboard.analyses.processings import has_table

_LATEST = """(SELECT cluster, topic, arg_max(cleanup_policy, observed_at) AS policy,
                     arg_max(retention_ms, observed_at) AS retention_ms
              FROM topic_configs GROUP BY ALL)"""
# a file from before migration 019, read as it is (a reader never upgrades it), knows of no settings
_NONE = """(SELECT NULL::VARCHAR AS cluster, NULL::VARCHAR AS topic, NULL::VARCHAR AS policy,
                   NULL::BIGINT AS retention_ms WHERE false)"""


def latest(con: duckdb.DuckDBPyConnection) -> str:
    """A relation to select from: cluster, topic, policy (cleanup.policy), retention_ms."""
    return _LATEST if has_table(con, "topic_configs") else _NONE
