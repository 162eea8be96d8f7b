"""Builds the Kafka components of `seamwatch collect` / `seamwatch up` from settings."""

from __future__ import annotations

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag import LagPoller
from collectors.kafka.tap import KafkaTap
from collectors.kafka.wire_records import WireRecords
from collectors.normalize.wire_format import SchemaSource, WireDecoder
from collectors.runtime import Component
from collectors.store import Store


def build(store: Store, settings: KafkaSettings, *, from_beginning: bool = False,
          schemas: SchemaSource | None = None) -> list[Component]:
    """The tap and the lag poller for one cluster (either can be switched off in settings);
    with a schema source (a registry or a folder), the tap decodes wire-format values through it."""
    out: list[Component] = []
    if settings.tap:
        out.append(KafkaTap(store, settings, from_beginning=from_beginning, wire=wire_records(settings, schemas)))
    if settings.lag:
        out.append(LagPoller(store, settings))
    return out


def wire_records(settings: KafkaSettings, schemas: SchemaSource | None) -> WireRecords | None:
    if schemas is None:
        return None
    return WireRecords(WireDecoder(schemas), cluster=settings.cluster_name,
                       source=f"kafka:{settings.cluster_name}", dlt_patterns=settings.dlt_patterns)
