"""The schema registry as a source of schemas by id, through confluent-kafka's own client.

Settings: ``--schema-registry URL`` plus the client's own keys from
``--schema-registry-config FILE`` (key=value lines) and repeatable ``-S key=value``:
``basic.auth.user.info`` (USER:PASSWORD), ``basic.auth.credentials.source``,
``ssl.ca.location``, ``ssl.certificate.location``, ``ssl.key.location``,
``ssl.key.password``, ``timeout``. Secrets never reach a log line or status().
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.errors import ConfigError
from collectors.kafka.config import load_properties
from collectors.normalize.wire_format import Schema, SchemaUnavailable, proto_pool

log = logging.getLogger(__name__)

_SECRET = re.compile(r"user\.info|password|secret|token|\.key\.|key\.location", re.IGNORECASE)
# A registry that does not answer is asked again after this many seconds: the tap stores
# those records raw meanwhile rather than waiting on every one.
RETRY_DOWN_S = 5.0
RETRY_UNKNOWN_S = 30.0  # an id the registry does not know (it may be registered later)
# The client's own defaults retry for seconds; one quick try per interval is enough here.
_CLIENT_DEFAULTS = {"timeout": 5, "max.retries": 0}


def parse_s(items: Iterable[str]) -> dict[str, str]:
    """``-S key=value`` items → dict; a malformed item is a ConfigError naming its key only."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-S expects key=value, got {key.strip()!r}")
        out[key.strip()] = value.strip()
    return out


def redact(conf: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if _SECRET.search(k) else v) for k, v in conf.items()}


def _redact_url(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)  # user:password@host


@dataclass(frozen=True)
class RegistrySettings:
    url: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.match(r"(https?|mock)://", self.url):
            raise ConfigError(f"--schema-registry needs an http(s):// URL, got {_redact_url(self.url)!r}")

    @classmethod
    def from_options(cls, url: str, config_file: str | None, s_items: Iterable[str]) -> RegistrySettings:
        extra = load_properties(config_file) if config_file else {}
        extra.update(parse_s(s_items))
        return cls(url=url, extra=extra)

    def describe(self) -> dict[str, Any]:
        return {"url": _redact_url(self.url), "extra": redact(self.extra)}


def _status_of(exc: Exception) -> int | None:
    code = getattr(exc, "http_status_code", None)
    return code if isinstance(code, int) and code > 0 else None


class RegistrySchemas:
    """SchemaSource over a registry that speaks the Confluent API."""

    def __init__(self, settings: RegistrySettings, *, client: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``client``: a SchemaRegistryClient already made (a ``mock://`` one is per instance)."""
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.settings = settings
        self._clock = clock
        self._down_until = 0.0  # while the registry is unreachable, every id fails at once
        if client is not None:
            self.client = client
            return
        try:
            self.client = SchemaRegistryClient.new_client({**_CLIENT_DEFAULTS, **settings.extra, "url": settings.url})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"schema registry settings: {exc}") from None

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        """One request; its failure as SchemaUnavailable with a one-line reason."""
        if self._clock() < self._down_until:  # a dead or black-holed registry costs one timeout per interval
            raise SchemaUnavailable(f"schema registry unreachable (not asked again yet) for {what}",
                                    retry_after=self._down_until - self._clock())
        try:
            return fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001 (the client raises its own, httpx's and ssl's errors)
            status = _status_of(exc)
            if status == 404:
                raise SchemaUnavailable(f"{what} unknown to the schema registry", retry_after=RETRY_UNKNOWN_S) from None
            if status is not None:
                raise SchemaUnavailable(f"schema registry answered {status} for {what}",
                                        retry_after=RETRY_DOWN_S) from None
            self._down_until = self._clock() + RETRY_DOWN_S
            # the exception's text may hold the URL and its user:password: only its type is shown
            raise SchemaUnavailable(f"schema registry unreachable ({type(exc).__name__}) for {what}",
                                    retry_after=RETRY_DOWN_S) from None

    def fetch(self, schema_id: int) -> Schema:
        what = f"schema id {schema_id}"
        s = self._call(what, self.client.get_schema, schema_id)
        kind = (s.schema_type or "AVRO").upper()
        if kind == "PROTOBUF":  # the descriptor, not the .proto text (no parser for that here)
            s = self._call(what, self.client.get_schema, schema_id, fmt="serialized")
        return Schema(kind, s.schema_str, self._version(schema_id), tuple(s.references or ()))

    def _version(self, schema_id: int) -> int | None:
        """The schema's registry version (the newest, when several subjects hold it)."""
        if type(self.client).__name__ != "MockSchemaRegistryClient":  # the in-memory one has no such route
            try:
                versions = self.client.get_schema_versions(schema_id)
                return max((v.version for v in versions if v.version is not None), default=None)
            except Exception as exc:  # noqa: BLE001
                if _status_of(exc) is None:
                    self._down_until = self._clock() + RETRY_DOWN_S
                    raise SchemaUnavailable(f"schema registry unreachable ({type(exc).__name__}) for the "
                                            f"versions of schema id {schema_id}", retry_after=RETRY_DOWN_S) from None
        # registries without /schemas/ids/{id}/versions (and the in-memory one): look it up by subject
        try:
            for subject in self.client.get_subjects():
                for v in self.client.get_versions(subject):
                    if self.client.get_version(subject, v).schema_id == schema_id:
                        return v
        except Exception as exc:  # noqa: BLE001
            log.debug("no version for schema id %s: %s", schema_id, type(exc).__name__)
        return None

    def named_schemas(self, schema: Schema) -> dict[str, Any]:
        if not schema.references:
            return {}
        from confluent_kafka.schema_registry import Schema as CkSchema
        from confluent_kafka.schema_registry._sync.avro import _resolve_named_schema

        return self._call("Avro references", _resolve_named_schema,
                          CkSchema(schema.text, "AVRO", list(schema.references)), self.client)

    def proto_pool(self, schema: Schema) -> Any:
        from confluent_kafka.schema_registry import Schema as CkSchema
        from confluent_kafka.schema_registry._sync.protobuf import _resolve_named_schema

        def imports(pool: Any) -> None:
            if schema.references:
                self._call("Protobuf imports", _resolve_named_schema,
                           CkSchema(schema.text, "PROTOBUF", list(schema.references)), self.client, pool)

        return proto_pool(schema.text, imports)
