"""Kafka options of `seamwatch collect` (and `up`), and the components they build."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from collectors.runtime import Component
from collectors.store import Store

_OPTIONS = [
    click.option("--bootstrap", "kafka_bootstrap", multiple=True, envvar="SEAMWATCH_KAFKA_BOOTSTRAP",
                 show_envvar=True, metavar="HOST:PORT",
                 help="Kafka bootstrap server (repeatable); turns on the topic tap and the lag poller."),
    click.option("--cluster", "kafka_cluster", envvar="SEAMWATCH_KAFKA_CLUSTER", show_envvar=True,
                 help="Name stored with the rows of this cluster (default: the bootstrap address)."),
    click.option("--topic", "kafka_topics", multiple=True, metavar="PATTERN",
                 help="Tap only topics matching this glob (repeatable; default: all)."),
    click.option("--exclude", "kafka_exclude", multiple=True, metavar="PATTERN",
                 help="Never tap topics matching this glob (repeatable; internal topics always excluded)."),
    click.option("-X", "kafka_x", multiple=True, metavar="KEY=VALUE",
                 help="Any librdkafka setting, e.g. -X security.protocol=SASL_SSL (repeatable)."),
    click.option("--kafka-config", "kafka_config", type=click.Path(exists=True, dir_okay=False),
                 envvar="SEAMWATCH_KAFKA_CONFIG", show_envvar=True,
                 help="Properties file of librdkafka settings (-X wins over it)."),
    click.option("--poll-interval", "kafka_poll_interval", type=click.FloatRange(min=0.5), default=10.0,
                 envvar="SEAMWATCH_KAFKA_POLL_INTERVAL", show_envvar=True, show_default=True,
                 help="Seconds between consumer-lag snapshots."),
    click.option("--from-beginning", "kafka_from_beginning", is_flag=True,
                 help="On first run, read topics from their start (default: from now on)."),
    click.option("--tap-group", "kafka_group", default="seamwatch-tap", envvar="SEAMWATCH_KAFKA_GROUP",
                 show_envvar=True, show_default=True,
                 help="Consumer group the tap commits to, so its own lag shows (its positions live in the store)."),
    click.option("--no-tap", "kafka_no_tap", is_flag=True, help="Poll lag only; do not read topics."),
    click.option("--schema-registry", "schema_registry", envvar="SEAMWATCH_SCHEMA_REGISTRY", show_envvar=True,
                 metavar="URL", help="Schema registry (Confluent API) that decodes Avro, Protobuf and JSON Schema "
                                     "values in the wire format; without it (or --schemas) they are stored as bytes."),
    click.option("--schemas", "schemas", type=click.Path(file_okay=False, exists=True), metavar="DIR",
                 help="Folder of schemas named by schema id (42.avsc, 42.json, 42.pb) that decodes wire-format "
                      "values instead of a registry (one the collector cannot reach, or schemas kept as files)."),
    click.option("--schema-registry-config", "schema_registry_config", type=click.Path(exists=True, dir_okay=False),
                 envvar="SEAMWATCH_SCHEMA_REGISTRY_CONFIG", show_envvar=True,
                 help="Properties file of schema-registry client settings (basic auth, TLS; -S wins over it)."),
    click.option("-S", "schema_registry_s", multiple=True, metavar="KEY=VALUE",
                 help="Schema-registry client setting, e.g. -S basic.auth.user.info=USER:PASSWORD (repeatable)."),
]


def kafka_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


# What a client needs to reach the cluster (redrive, and the dashboard when it may redrive).
_CONNECTION = ("kafka_bootstrap", "kafka_cluster", "kafka_x", "kafka_config")


def connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--bootstrap, --cluster, -X and --kafka-config, the same options as collect's."""
    chosen = [o for o in _OPTIONS if _dest(o) in _CONNECTION]
    for option in reversed(chosen):
        f = option(f)
    return f


def _dest(decorator: Callable[..., Any]) -> str | None:
    probe = decorator(lambda: None)
    params = getattr(probe, "__click_params__", [])
    return params[-1].name if params else None


def connection_settings(options: dict[str, Any]) -> Any:
    """KafkaSettings from the connection options, or None without --bootstrap."""
    bootstrap = [b for item in options.get("kafka_bootstrap") or () for b in item.split(",") if b.strip()]
    if not bootstrap:
        return None
    from collectors.kafka.config import KafkaSettings, merge_extra

    return KafkaSettings(bootstrap=bootstrap, cluster=options.get("kafka_cluster"),
                         extra=merge_extra(options.get("kafka_config"), options.get("kafka_x") or ()))


def build_kafka(store: Store, options: dict[str, Any]) -> list[Component]:
    """Tap and lag poller when --bootstrap is given; nothing otherwise."""
    schemas = schema_source(options)  # its usage errors stand with or without --bootstrap
    bootstrap = [b for item in options.get("kafka_bootstrap") or () for b in item.split(",") if b.strip()]
    if not bootstrap:
        return []
    from collectors.kafka.components import build
    from collectors.kafka.config import DEFAULT_EXCLUDE, KafkaSettings, merge_extra

    settings = KafkaSettings(
        bootstrap=bootstrap,
        cluster=options.get("kafka_cluster"),
        include=tuple(options.get("kafka_topics") or ()) or ("*",),
        exclude=DEFAULT_EXCLUDE + tuple(options.get("kafka_exclude") or ()),
        extra=merge_extra(options.get("kafka_config"), options.get("kafka_x") or ()),
        group_id=options.get("kafka_group") or "seamwatch-tap",
        poll_interval=float(options.get("kafka_poll_interval") or 10.0),
        tap=not options.get("kafka_no_tap"),
    )
    return build(store, settings, from_beginning=bool(options.get("kafka_from_beginning")), schemas=schemas)


def schema_source(options: dict[str, Any]) -> Any:
    """Where wire-format values find their schemas: --schemas DIR or --schema-registry URL
    (one of them), or None (they are stored as bytes)."""
    settings = registry_settings(options)
    folder = options.get("schemas")
    if folder and settings is not None:
        raise click.UsageError("give --schemas or --schema-registry, not both")
    if folder:
        from collectors.normalize.wire_format import FolderSchemas

        return FolderSchemas(folder)
    if settings is not None:
        from collectors.kafka.registry import RegistrySchemas

        return RegistrySchemas(settings)
    return None


def registry_settings(options: dict[str, Any]) -> Any:
    """--schema-registry and its client settings, or None (then -S alone is a usage error)."""
    url = options.get("schema_registry")
    if not url:
        if options.get("schema_registry_s") or options.get("schema_registry_config"):
            raise click.UsageError("-S and --schema-registry-config need --schema-registry URL")
        return None
    from collectors.kafka.registry import RegistrySettings

    return RegistrySettings.from_options(str(url), options.get("schema_registry_config"),
                                         options.get("schema_registry_s") or ())
