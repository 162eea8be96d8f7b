"""The Kafka connection options outside `collect`: what a client needs to reach the cluster
(`redrive`, and the dashboard when it may redrive). They are the Kafka source's own option
declarations (collectors.sources), offered through the same click conversion, so a setting
reads the same on every command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors import sources
from dashboard.cli.source_options import click_param

# The Kafka source's settings that say how to reach the cluster, not what to collect.
_CONNECTION = ("kafka_bootstrap", "kafka_cluster", "kafka_x", "kafka_config")


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--bootstrap, --cluster, -X and --kafka-config, the same options as collect's."""
    kafka = next(s for s in sources.sources("stream") if s.name == "kafka")
    for option in reversed([o for o in kafka.options if o.name in _CONNECTION]):
        f = _decorate(f, click_param(option))
    return f


def _decorate(f: Callable[..., Any], param: Any) -> Callable[..., Any]:
    f.__dict__.setdefault("__click_params__", []).append(param)
    return f


def connection_settings(options: dict[str, Any]) -> Any:
    """KafkaSettings from the connection options, or None without --bootstrap."""
    bootstrap = [b for item in options.get("kafka_bootstrap") or () for b in item.split(",") if b.strip()]
    if not bootstrap:
        return None
    from collectors.kafka.config import KafkaSettings, merge_extra

    return KafkaSettings(bootstrap=bootstrap, cluster=options.get("kafka_cluster"),
                         extra=merge_extra(options.get("kafka_config"), options.get("kafka_x") or ()))
