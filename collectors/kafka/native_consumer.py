"""The tap's native consumer: records read from librdkafka straight into native chunks.

confluent-kafka's ``consume()`` builds a Python Message per record and the native capture then
copies its fields out (collectors/kafka/fastpath.py): about half the consumer thread's time.
:class:`NativeConsumer` (collectors/kafka/native/src/consumer.rs) reads the same librdkafka, the
one confluent-kafka's wheel bundles and has already loaded, and copies each record's fields
into a chunk without the GIL and without a Python object per record.

It is used where it does what confluent-kafka's Consumer does, no more: in assign mode (the tap on a
DuckDB file), with the native path, without a schema registry (that picks Message objects).
Group mode, on a lake, keeps confluent-kafka: rebalances call back into the application.
``SEAMWATCH_KAFKA_CONSUMER=python`` turns it off; a librdkafka it cannot find or use is said
once and confluent-kafka reads. Every librdkafka setting (``-X``, SASL, TLS) passes through as
text, as confluent-kafka passes it; errors and log lines reach ``error_cb`` and ``logger`` as
confluent-kafka delivers them (on the consumer's thread, after each call).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collectors.kafka import fastpath

log = logging.getLogger(__name__)

try:
    from collectors.kafka import _native
except ImportError:  # built without a Rust toolchain
    _native = None

ENV = "SEAMWATCH_KAFKA_CONSUMER"
# syslog levels (librdkafka's) to logging's, as confluent-kafka maps them
_LEVELS = (50, 50, 50, 40, 30, 20, 20, 10)
_warned: set[str] = set()


@functools.cache
def library() -> str | None:
    """The librdkafka this process has loaded (confluent-kafka's), from the process's memory map
    (read once: a loaded library stays where it is)."""
    import confluent_kafka  # noqa: F401 (loads librdkafka)

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if "/librdkafka" in path and ".so" in path:
                    return path
    except OSError:  # not Linux
        return None
    return None


def _say_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def chosen() -> str:
    """"native" when the native consumer is built, asked for (the default) and librdkafka was found;
    otherwise "python" (confluent-kafka's Consumer)."""
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted == "python":
        return "python"
    if wanted not in ("", "native"):
        _say_once(wanted, "%s=%s is neither python nor native: reading with confluent-kafka", ENV, wanted[:40])
        return "python"
    if _native is None or not hasattr(_native, "Consumer"):
        if wanted:
            _say_once("unbuilt", "%s=native, but the native module was not built: reading with confluent-kafka", ENV)
        return "python"
    if library() is None:
        _say_once("nolib", "the librdkafka confluent-kafka uses was not found in this process: reading with "
                           "confluent-kafka")
        return "python"
    return "native"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class TopicMetadata:
    """What the tap reads of a topic's metadata (confluent-kafka's TopicMetadata has the same names)."""

    error: Any
    partitions: dict[int, None] = field(default_factory=dict)


@dataclass
class ClusterMetadata:
    topics: dict[str, TopicMetadata]


class ErrorMessage:
    """An error consume() returned, with confluent-kafka's Message methods the tap asks."""

    __slots__ = ("_error", "_topic", "_partition", "_offset")

    def __init__(self, error: Any, topic: str | None, partition: int, offset: int) -> None:
        self._error, self._topic, self._partition, self._offset = error, topic, partition, offset

    def error(self) -> Any:
        return self._error

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def _kafka_error(code: int, reason: str | None, *, fatal: bool = False) -> Any:
    from confluent_kafka import KafkaError

    return KafkaError(code, reason or None, fatal=fatal)  # no reason: librdkafka's words for the code


def _raised(exc: Any) -> Exception:
    """A native failure (code, reason) as the KafkaException confluent-kafka raises."""
    from confluent_kafka import KafkaException

    code, reason = exc.args
    return KafkaException(_kafka_error(code, reason))


class NativeConsumer:
    """confluent-kafka's Consumer, the part the tap uses in assign mode, reading into chunks."""

    def __init__(self, conf: dict[str, Any]) -> None:
        from confluent_kafka import KafkaError, KafkaException

        conf = dict(conf)
        self._error_cb = conf.pop("error_cb", None)
        self._logger = conf.pop("logger", None) or logging.getLogger("collectors.kafka.librdkafka")
        callables = sorted(k for k, v in conf.items() if callable(v))
        if callables:  # a Python callback librdkafka would have to call: confluent-kafka's job
            raise ValueError(f"the native consumer takes no Python callbacks ({', '.join(callables)})")
        path = library()
        if path is None:
            raise RuntimeError("librdkafka is not loaded in this process")
        try:
            self._c = _native.Consumer(path, [(k, _text(v)) for k, v in conf.items()])
        except ValueError as exc:  # librdkafka refused a setting, in its words (as confluent-kafka raises it)
            raise KafkaException(KafkaError(KafkaError._INVALID_ARG, str(exc))) from None  # noqa: SLF001

    def _drain(self) -> None:
        """librdkafka's log lines and errors since the last call, to the logger and error_cb."""
        logs, errors = self._c.events()
        name = self._c.name
        for level, facility, text in logs:
            self._logger.log(_LEVELS[min(max(level, 0), 7)], "%s [%s] %s", facility, name, text)
        if self._error_cb is not None:
            for code, _name, reason, fatal in errors:
                self._error_cb(_kafka_error(code, reason, fatal=fatal))

    def _call(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except _native.KafkaFailure as exc:
            raise _raised(exc) from None
        finally:
            self._drain()

    def list_topics(self, timeout: float = -1) -> ClusterMetadata:
        topics = self._call(self._c.topics, int(timeout * 1000) if timeout >= 0 else -1)
        return ClusterMetadata({name: TopicMetadata(_kafka_error(err, None) if err else None, dict.fromkeys(parts))
                                for name, err, parts in topics})

    def incremental_assign(self, partitions: Iterable[Any]) -> None:
        self._call(self._c.incremental_assign, [(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def incremental_unassign(self, partitions: Iterable[Any]) -> None:
        self._call(self._c.incremental_unassign, [(tp.topic, tp.partition) for tp in partitions])

    def consume_chunk(self, num_messages: int, timeout: float) -> tuple[fastpath.NativeBatch | None,
                                                                        list[ErrorMessage]]:
        """Up to ``num_messages`` records within ``timeout`` seconds, as a batch of one chunk (None
        when there were none), and the errors librdkafka returned among them."""
        chunk, errors = self._call(self._c.consume, num_messages, int(timeout * 1000))
        return (None if chunk is None else fastpath.NativeBatch([chunk]),
                [ErrorMessage(_kafka_error(code, reason), topic, partition, offset)
                 for code, _name, reason, topic, partition, offset in errors])

    def commit(self, *, offsets: list[Any], asynchronous: bool = True) -> None:
        self._call(self._c.commit, [(tp.topic, tp.partition, tp.offset) for tp in offsets], asynchronous)

    def close(self) -> None:
        self._c.close()
        self._drain()
