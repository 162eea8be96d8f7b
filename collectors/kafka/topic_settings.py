"""Topic settings the audit and the lag rules read: each topic's ``cleanup.policy`` and ``retention.ms``.

A compacted topic keeps the latest record of each key: its records are states, identified by
their key, rather than events (docs/architecture.md#event-design-audit); a group whose time lag
nears a topic's retention is about to lose records (LAG_NEAR_RETENTION). Two collectors ask
the cluster (DescribeConfigs) and keep a :class:`SettingsLedger` of what they write:

- the tap, for the topics the group gives it, once a session, on a thread of its own
  (:class:`TopicSettings`), so reading never waits on it;
- the lag poller, for every topic its groups commit on or its patterns want, tapped or not,
  again every ``ASK_EVERY`` seconds (collectors/kafka/describe_configs.py), with its snapshots
  (collectors/kafka/lag_snapshot.py).

A row is written only when a topic's settings differ from the newest stored for it (migration
019), in the transaction of the writer's next batch or snapshot: one that fails to commit
keeps the rows pending. A cluster that does not answer, or denies DescribeConfigs, leaves the
topics unknown (judged as events, as before, and not judged against a retention), said at
debug level; they are asked again later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from collectors.kafka.describe_configs import Settings, describe
from collectors.model import TS

log = logging.getLogger(__name__)

SCHEMA = pa.schema([("cluster", pa.string()), ("topic", pa.string()), ("cleanup_policy", pa.string()),
                    ("retention_ms", pa.int64()), ("observed_at", TS)])

_LATEST = """
SELECT topic, arg_max(cleanup_policy, observed_at), arg_max(retention_ms, observed_at)
FROM topic_configs WHERE cluster = $cluster GROUP BY topic
"""


class SettingsLedger:
    """What a writer has to write of one cluster's topic settings: those that differ from the
    newest stored, which it reads from the store whenever it has something to write (thread-safe)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self._lock = threading.Lock()
        self._stored: dict[str, Settings] = {}  # the newest written for each topic
        self._pending: dict[str, tuple[Settings, datetime]] = {}

    def _reread(self, con: Any) -> None:
        """The settings stored so far: a pending one already stored is not pending."""
        rows = con.execute(_LATEST, {"cluster": self.cluster}).fetchall()
        with self._lock:
            self._stored = {t: (p, r) for t, p, r in rows}
            for topic, (settings, _) in list(self._pending.items()):
                if self._stored.get(topic) == settings:  # another writer of the cluster wrote them
                    del self._pending[topic]

    def observed(self, got: dict[str, Settings], at: datetime | None = None) -> None:
        """The cluster gave these settings (``at``, now by default): those that changed are pending."""
        at = at or datetime.now(UTC).replace(tzinfo=None)
        with self._lock:
            for topic, settings in got.items():
                if self._stored.get(topic) != settings:
                    self._pending[topic] = (settings, at)

    def rows(self, store: Callable[[], Any]) -> pa.Table | None:
        """The settings to write with the next batch or snapshot (None when there are none).

        ``store``: gives a connection to the store, read first when there is something to write,
        so that what this writer or the cluster's other one (the tap, the lag poller) has stored
        is not written again."""
        with self._lock:
            pending = bool(self._pending)
        if pending:
            self._reread(store())
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


class TopicSettings(SettingsLedger):
    """The tapped topics' settings: asked on a thread, handed to the writer."""

    def __init__(self, cluster: str, admin: Callable[[], Any], name: str) -> None:
        """``admin``: the tap session's AdminClient (None when it cannot be made)."""
        super().__init__(cluster)
        self._admin, self._name = admin, name
        self._asked: set[str] = set()  # this session

    def new_session(self) -> None:
        """A session starts: every topic is asked again."""
        with self._lock:
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
        self.observed(got)
        if len(got) < len(topics):
            log.debug("%s: %d of %d topics' settings not given", self._name, len(topics) - len(got), len(topics))
