"""Topic settings the audit reads: each tapped topic's ``cleanup.policy`` and ``retention.ms``.

A compacted topic keeps the latest record of each key: its records are states, identified by
their key, rather than events (docs/architecture.md#event-design-audit). The tap tells this
module the topics the group gives it; their settings are asked of the cluster (one
DescribeConfigs request) on a thread of their own, so reading never waits on it, and each
topic is asked once a session. A row is written only when a topic's settings differ from the
newest stored for it (migration 019), with the tap's next batch, in the batch's transaction: a
batch that fails to commit keeps the rows pending. A cluster that does not answer, or denies
DescribeConfigs, leaves the topics unknown (judged as events, as before) and is said once at
debug level; they are asked again in the next session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from collectors.model import TS

log = logging.getLogger(__name__)

SCHEMA = pa.schema([("cluster", pa.string()), ("topic", pa.string()), ("cleanup_policy", pa.string()),
                    ("retention_ms", pa.int64()), ("observed_at", TS)])
TIMEOUT = 10.0  # seconds for the one DescribeConfigs request

Settings = tuple[str | None, int | None]  # (cleanup.policy, retention.ms)

_LATEST = """
SELECT topic, arg_max(cleanup_policy, observed_at), arg_max(retention_ms, observed_at)
FROM topic_configs WHERE cluster = $cluster GROUP BY topic
"""


def describe(admin: Any, topics: list[str]) -> dict[str, Settings]:
    """Each topic's settings as the cluster gives them; topics it does not describe (gone, denied)
    are left out, and so is everything when it cannot be asked."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource, ResourceType

    try:
        futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in sorted(set(topics))],
                                         request_timeout=TIMEOUT)
    except (KafkaException, ValueError, TypeError) as exc:
        log.debug("describing the settings of %d topics: %s", len(topics), exc)
        return {}
    out: dict[str, Settings] = {}
    for resource, fut in futures.items():
        try:
            entries = fut.result(timeout=TIMEOUT + 5)
        except Exception as exc:  # noqa: BLE001 (a topic deleted meanwhile, or not described to us)
            log.debug("the settings of topic %s: %s", resource.name, exc)
            continue
        policy = entries.get("cleanup.policy")
        retention = entries.get("retention.ms")
        try:
            ms = int(retention.value) if retention is not None and retention.value is not None else None
        except ValueError:
            ms = None
        out[resource.name] = (policy.value if policy is not None else None, ms)
    return out


class TopicSettings:
    """The tapped topics' settings: asked on a thread, handed to the writer (thread-safe)."""

    def __init__(self, cluster: str, admin: Callable[[], Any], name: str) -> None:
        """``admin``: the tap session's AdminClient (None when it cannot be made)."""
        self.cluster, self._admin, self._name = cluster, admin, name
        self._lock = threading.Lock()
        self._stored: dict[str, Settings] = {}  # the newest written for each topic
        self._asked: set[str] = set()  # this session
        self._pending: dict[str, tuple[Settings, datetime]] = {}

    def load(self, con: Any) -> None:
        """The settings stored so far (the tap's store, at the start of a session)."""
        rows = con.execute(_LATEST, {"cluster": self.cluster}).fetchall()
        with self._lock:
            self._stored = {t: (p, r) for t, p, r in rows}
            self._asked.clear()

    def assigned(self, topics: set[str]) -> None:
        """The group gave the tap these topics: those not asked this session are asked now."""
        with self._lock:
            new = sorted(topics - self._asked)
            self._asked.update(new)
        if new:
            threading.Thread(target=self._ask, args=(new,), name=f"{self._name}-settings", daemon=True).start()

    def _ask(self, topics: list[str]) -> None:
        admin = self._admin()
        if admin is None:  # (said at debug level by the tap's id look, which shares it)
            return
        got = describe(admin, topics)
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._lock:
            for topic, settings in got.items():
                if self._stored.get(topic) != settings:
                    self._pending[topic] = (settings, now)
        if len(got) < len(topics):
            log.debug("%s: %d of %d topics' settings not given", self._name, len(topics) - len(got), len(topics))

    def rows(self) -> pa.Table | None:
        """The settings to write with the next batch (None when there are none)."""
        with self._lock:
            pending = sorted(self._pending.items())
        if not pending:
            return None
        return pa.Table.from_pylist([{"cluster": self.cluster, "topic": t, "cleanup_policy": p, "retention_ms": r,
                                      "observed_at": at} for t, ((p, r), at) in pending], schema=SCHEMA)

    def written(self, rows: pa.Table) -> None:
        """The rows are committed: they are the newest stored (unless asked again since)."""
        with self._lock:
            for row in rows.to_pylist():
                settings = (row["cleanup_policy"], row["retention_ms"])
                self._stored[row["topic"]] = settings
                if self._pending.get(row["topic"], (None,))[0] == settings:
                    del self._pending[row["topic"]]
