"""Asking a cluster for topic settings (DescribeConfigs): ``cleanup.policy`` and ``retention.ms``.

Light on purpose: the lag poller's child process (collectors/kafka/lag_process.py) asks with
it and imports neither DuckDB nor Arrow. What is done with the answers is
collectors/kafka/topic_settings.py.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds for the one DescribeConfigs request
ASK_EVERY = 600.0  # seconds between the lag poller's asks of one topic: a retention changed while running

Settings = tuple[str | None, int | None]  # (cleanup.policy, retention.ms)


def describe(admin: Any, topics: list[str]) -> dict[str, Settings]:
    """Each topic's settings as the cluster gives them; topics it does not describe (gone, denied)
    are left out, and so is everything when it cannot be asked."""
    return answers(ask(admin, topics), wait=True)


def ask(admin: Any, topics: list[str]) -> dict[Any, Any]:
    """The DescribeConfigs request for ``topics``, sent: a future for each (none when it cannot be sent)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigResource, ResourceType

    try:
        # a copy: confluent-kafka sets each future's answer through the dict it returns, so
        # taking answered futures out of that one would leave the rest unanswered
        return dict(admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in sorted(set(topics))],
                                           request_timeout=TIMEOUT))
    except (KafkaException, ValueError, TypeError) as exc:
        log.debug("describing the settings of %d topics: %s", len(topics), exc)
        return {}


def answers(futures: dict[Any, Any], *, wait: bool) -> dict[str, Settings]:
    """The settings the answered futures give (``wait``: each answered or timed out first).

    Answered futures are taken out of ``futures``; without ``wait`` the rest stay in it, to be
    looked at again."""
    out: dict[str, Settings] = {}
    for resource, fut in list(futures.items()):
        if not wait and not fut.done():
            continue
        del futures[resource]
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
