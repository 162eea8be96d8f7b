"""The Kafka source: its options, and the tap and lag poller they build (collectors.sources)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collectors.runtime import Component
from collectors.sources import Kind, Option, UsageError, register
from collectors.store import Store

OPTIONS = (
    Option("--bootstrap", "kafka_bootstrap", multiple=True, env="SEAMWATCH_KAFKA_BOOTSTRAP", metavar="HOST:PORT",
           help="Kafka bootstrap server (repeatable); turns on the topic tap and the lag poller."),
    Option("--cluster", "kafka_cluster", env="SEAMWATCH_KAFKA_CLUSTER",
           help="Name stored with the rows of this cluster (default: the bootstrap address)."),
    Option("--topic", "kafka_topics", multiple=True, metavar="PATTERN",
           help="Tap only topics matching this glob, and keep consumer lag only on them (repeatable; default: all)."),
    Option("--exclude", "kafka_exclude", multiple=True, metavar="PATTERN",
           help="Never tap topics matching this glob, nor keep consumer lag on them (repeatable; internal topics "
                "are never tapped)."),
    Option("--group", "kafka_groups", multiple=True, metavar="PATTERN",
           help="Poll the lag of only consumer groups matching this glob (repeatable; default: all)."),
    Option("--exclude-group", "kafka_exclude_groups", multiple=True, metavar="PATTERN",
           help="Never describe nor store consumer groups matching this glob (repeatable)."),
    Option("-X", "kafka_x", multiple=True, metavar="KEY=VALUE",
           help="Any librdkafka setting, e.g. -X security.protocol=SASL_SSL (repeatable)."),
    Option("--kafka-config", "kafka_config", kind="file", env="SEAMWATCH_KAFKA_CONFIG",
           help="Properties file of librdkafka settings (-X wins over it)."),
    Option("--memory", "memory", env="SEAMWATCH_MEMORY", metavar="SIZE",
           help="Memory budget of the collector process, e.g. 400MB: sizes DuckDB's memory limit (over "
                "--db-memory-limit) and the tap's fetch buffers and batches so that its RSS stays under it."),
    Option("--poll-interval", "kafka_poll_interval", kind="float", low=0.5, default=10.0,
           env="SEAMWATCH_KAFKA_POLL_INTERVAL", show_default=True,
           help="Seconds between consumer-lag snapshots."),
    Option("--from-beginning", "kafka_from_beginning", kind="flag",
           help="On first run, read topics from their start (default: from now on)."),
    Option("--tap-group", "kafka_group", default="seamwatch-tap", env="SEAMWATCH_KAFKA_GROUP", show_default=True,
           help="Consumer group the tap commits to, so its own lag shows (its positions live in the store)."),
    Option("--no-tap", "kafka_no_tap", kind="flag", help="Poll lag only; do not read topics."),
    Option("--schema-registry", "schema_registry", env="SEAMWATCH_SCHEMA_REGISTRY", metavar="URL",
           help="Schema registry (Confluent API) that decodes Avro, Protobuf and JSON Schema "
                "values in the wire format; without it (or --schemas) they are stored as bytes."),
    Option("--schemas", "schemas", kind="dir", metavar="DIR",
           help="Folder of schemas named by schema id (42.avsc, 42.json, 42.pb) that decodes wire-format "
                "values instead of a registry (one the collector cannot reach, or schemas kept as files)."),
    Option("--schema-registry-config", "schema_registry_config", kind="file",
           env="SEAMWATCH_SCHEMA_REGISTRY_CONFIG",
           help="Properties file of schema-registry client settings (basic auth, TLS; -S wins over it)."),
    Option("-S", "schema_registry_s", multiple=True, metavar="KEY=VALUE",
           help="Schema-registry client setting, e.g. -S basic.auth.user.info=USER:PASSWORD (repeatable)."),
)


class KafkaSource:
    name = "kafka"
    kind: Kind = "stream"
    switch = "--bootstrap"
    options = OPTIONS

    def build(self, store: Store, settings: Mapping[str, Any]) -> list[Component]:
        """Tap and lag poller when --bootstrap is given; nothing otherwise."""
        schemas = schema_source(settings)  # its usage errors stand with or without --bootstrap
        bootstrap = [b for item in settings["kafka_bootstrap"] for b in item.split(",") if b.strip()]
        if not bootstrap:
            return []
        from collectors.kafka.components import build
        from collectors.kafka.config import KafkaSettings, merge_extra

        kafka = KafkaSettings(
            bootstrap=bootstrap,
            cluster=settings["kafka_cluster"],
            include=tuple(settings["kafka_topics"]) or ("*",),
            exclude=tuple(settings["kafka_exclude"]),
            groups=tuple(settings["kafka_groups"]) or ("*",),
            exclude_groups=tuple(settings["kafka_exclude_groups"]),
            extra=merge_extra(settings["kafka_config"], settings["kafka_x"]),
            group_id=settings["kafka_group"] or "seamwatch-tap",
            poll_interval=float(settings["kafka_poll_interval"]),
            tap=not settings["kafka_no_tap"],
            **budget_settings(settings.get("memory")),
        )
        from collectors.kafka import login

        if login.needs_check(kafka):  # a refused login is one sentence, not a metadata timeout
            login.check(kafka)
        return build(store, kafka, from_beginning=bool(settings["kafka_from_beginning"]), schemas=schemas)


def budget_settings(memory: str | None) -> dict[str, Any]:
    """The tap's batch and fetch sizes under a --memory budget (collectors/memory_budget.py); none without."""
    if not memory:
        return {}
    from collectors.memory_budget import MemoryBudget

    budget = MemoryBudget.parse(memory)
    return {"batch_messages": budget.batch_messages, "batch_bytes": budget.batch_bytes, "fetch": budget.fetch(),
            "queued_batches": 0}


def schema_source(settings: Mapping[str, Any]) -> Any:
    """Where wire-format values find their schemas: ``schemas`` (a folder) or ``schema_registry``
    (a URL, with ``schema_registry_config`` and ``schema_registry_s``), one of them; None when
    neither is given (the values are stored as bytes). The file import decodes through it too."""
    registry = registry_settings(settings)
    folder = settings.get("schemas")
    if folder and registry is not None:
        raise UsageError("give --schemas or --schema-registry, not both")
    if folder:
        from collectors.normalize.wire_format import FolderSchemas

        return FolderSchemas(folder)
    if registry is not None:
        from collectors.kafka.registry import RegistrySchemas

        return RegistrySchemas(registry)
    return None


def registry_settings(settings: Mapping[str, Any]) -> Any:
    """--schema-registry and its client settings, or None (then -S alone is a usage error)."""
    url = settings.get("schema_registry")
    if not url:
        if settings.get("schema_registry_s") or settings.get("schema_registry_config"):
            raise UsageError("-S and --schema-registry-config need --schema-registry URL")
        return None
    from collectors.kafka.registry import RegistrySettings

    return RegistrySettings.from_options(str(url), settings.get("schema_registry_config"),
                                         settings.get("schema_registry_s") or ())


SOURCE = register(KafkaSource())
