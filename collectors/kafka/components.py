"""Builds the Kafka components of `seamwatch collect` / `seamwatch up` from settings."""

from __future__ import annotations

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.kafka.tap import KafkaTap
from collectors.runtime import Component
from collectors.store import Store


def build(store: Store, settings: KafkaSettings, *, from_beginning: bool = False) -> list[Component]:
    """The tap and the lag poller for one cluster (either can be switched off in settings)."""
    out: list[Component] = []
    if settings.tap:
        out.append(KafkaTap(store, settings, from_beginning=from_beginning))
    if settings.lag:
        out.append(LagPoller(store, settings))
    return out
