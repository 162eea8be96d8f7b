"""Kafka collector settings: bootstrap, cluster name, topic and group patterns, librdkafka pass-through.

Any librdkafka setting passes through unchanged (``-X key=value`` or a Java-style properties
file), so SASL and SSL work as they do for kcat; secrets never reach a log line or status().
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from collectors.errors import ConfigError
from collectors.logrepeat import rate_limit
from collectors.normalize import deadletter

# Keys whose values are never shown (matched case-insensitively on the key name).
_SECRET = re.compile(r"password|secret|sasl\.jaas|token|credential|\.key$|key\.pem|private", re.IGNORECASE)
# Settings the collectors own; a pass-through value would break exactly-once or the tap's speed.
_RESERVED = frozenset({"enable.auto.commit", "enable.auto.offset.store", "group.id", "auto.offset.reset"})

# librdkafka's own log lines go through Python logging (not straight to stderr), so repeats of a
# connection failure are rate-limited like ours. Consumers serve them from consume()/poll(),
# admin clients from poll().
LIBRDKAFKA_LOG = logging.getLogger("collectors.kafka.librdkafka")
rate_limit(LIBRDKAFKA_LOG)

# Topics the tap never reads, whatever the patterns say (Kafka's and its tools' own). A consumer
# group that commits on one still has its lag polled: they are no user's --exclude.
# Topics a cluster's own tooling writes: Kafka's, the schema registry's, Confluent's, and Kafka
# Connect's config, offset and status topics under the names deployments give them (connect-offsets,
# docker-connect-offsets, connect-cluster-offsets as Strimzi names them, ...)
DEFAULT_EXCLUDE: tuple[str, ...] = ("__*", "_schemas", "_confluent*", "*connect-configs", "*connect-offsets",
                                    "*connect-status", "connect-cluster-configs", "connect-cluster-offsets",
                                    "connect-cluster-status")


def parse_x(items: Iterable[str]) -> dict[str, str]:
    """``-X key=value`` items → dict; a malformed item is a ConfigError naming it."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-X expects key=value, got {item.split('=')[0]!r}")
        out[key.strip()] = value.strip()
    return out


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """A Java-style .properties file (key=value or key: value, # and ! comments)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read Kafka properties file {p}: {exc.strerror}") from None
    out: dict[str, str] = {}
    pending = ""
    for n, raw in enumerate(lines, 1):
        line = pending + raw.strip()
        pending = ""
        if not line or line[0] in "#!":
            continue
        if line.endswith("\\"):  # continuation line
            pending = line[:-1]
            continue
        m = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if not m:
            raise ConfigError(f"{p}:{n}: expected key=value")
        out[m.group(1)] = m.group(2)
    return out


def redact(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to print: secret-looking values replaced by '***'."""
    return {k: ("***" if _SECRET.search(k) else v) for k, v in conf.items()}


@dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    """What the tap and the lag poller need to know about one cluster."""

    bootstrap: Sequence[str]
    cluster: str | None = None
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()  # the user's --exclude
    internal: Sequence[str] = DEFAULT_EXCLUDE  # never tapped, still polled for lag
    groups: Sequence[str] = ("*",)  # consumer groups the lag poller keeps (--group)...
    exclude_groups: Sequence[str] = ()  # ...minus these (--exclude-group)
    extra: Mapping[str, str] = field(default_factory=dict)
    group_id: str = "seamwatch-tap"
    poll_interval: float = 10.0  # lag snapshots
    topic_refresh: float = 5.0  # how often the tap looks for new topics
    batch_messages: int = 50_000  # flush after this many records...
    batch_seconds: float = 1.0  # ...or this long, whichever comes first
    batch_bytes: int = 64 << 20  # ...or when its values take this much: memory stays flat with large values
    fetch: Mapping[str, Any] = field(default_factory=dict)  # over the tap's fetch tuning (a memory budget's)
    queued_batches: int = 1  # batches waiting between the tap's stages (0 under a memory budget: handed over)
    dlt_patterns: Sequence[str] = deadletter.DEFAULT_PATTERNS
    tap: bool = True
    lag: bool = True

    def __post_init__(self) -> None:
        if not self.bootstrap or not all(b.strip() for b in self.bootstrap):
            raise ConfigError("--bootstrap needs HOST:PORT")
        bad = sorted(k for k in self.extra if k in _RESERVED)
        if bad:
            raise ConfigError(f"{', '.join(bad)} is managed by the tap and cannot be set with -X")
        if self.poll_interval <= 0 or self.batch_seconds <= 0 or self.batch_messages <= 0 or self.batch_bytes <= 0:
            raise ConfigError("poll interval, batch size and batch time must be positive")
        if not all(p.strip() for p in (*self.groups, *self.exclude_groups)):
            raise ConfigError("--group and --exclude-group need a glob PATTERN, not an empty one")

    @property
    def cluster_name(self) -> str:
        """The name rows carry: --cluster, else the first bootstrap address."""
        return self.cluster or sorted(b.strip() for b in self.bootstrap)[0]

    def client_conf(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka settings for one client: bootstrap, pass-through, then the collector's own."""
        conf: dict[str, Any] = {"bootstrap.servers": ",".join(b.strip() for b in self.bootstrap)}
        conf.update(self.extra)
        conf.update(overrides)
        conf.setdefault("logger", LIBRDKAFKA_LOG)
        return conf

    def wants(self, topic: str) -> bool:
        """Whether the tap reads this topic (include patterns, minus exclude and internal patterns)."""
        return self.lag_wants(topic) and not _matches(topic, self.internal)

    def lag_wants(self, topic: str) -> bool:
        """Whether the lag poller keeps a group's offsets on this topic (include patterns, minus
        exclude patterns). Internal topics count: a group reading one has lag like any other."""
        return _matches(topic, self.include) and not _matches(topic, self.exclude)

    def wants_group(self, group_id: str) -> bool:
        """Whether the lag poller describes and stores this consumer group (group patterns, minus
        exclude-group patterns); never the tap's own group, which is Seamwatch reading."""
        return (group_id != self.group_id and _matches(group_id, self.groups)
                and not _matches(group_id, self.exclude_groups))

    def describe(self) -> dict[str, Any]:
        """Settings for status() and logs, secrets redacted."""
        return {"cluster": self.cluster_name, "bootstrap": list(self.bootstrap), "include": list(self.include),
                "exclude": [*self.internal, *self.exclude], "groups": list(self.groups),
                "exclude_groups": list(self.exclude_groups), "extra": redact(self.extra)}


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def merge_extra(properties_file: str | None, x_items: Iterable[str]) -> dict[str, str]:
    """Properties file first, then -X items (the command line wins)."""
    out = load_properties(properties_file) if properties_file else {}
    out.update(parse_x(x_items))
    return out
