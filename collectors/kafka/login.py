"""A login check before the Kafka collectors start: refused credentials are one sentence.

librdkafka retries a refused SASL login like a broker that is away, so a wrong password would
show as a metadata timeout followed by a warning on every reconnect. When the settings ask for
SASL or TLS, `collect` and `up` first ask the cluster for its metadata with the same settings:
an authentication or TLS failure stops the command with one line; a broker that does not answer
is left to the collectors, which wait for it as they always do.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from collectors.errors import ConfigError
from collectors.kafka.config import KafkaSettings

_QUIET = logging.getLogger("collectors.kafka.login.librdkafka")  # the check's own librdkafka lines: not shown
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def needs_check(settings: KafkaSettings) -> bool:
    """Whether the settings log in (SASL) or encrypt (TLS): what a wrong setting breaks."""
    protocol = str(settings.extra.get("security.protocol", "")).upper()
    return protocol.startswith(("SASL", "SSL")) or any(k.startswith("sasl.") for k in settings.extra)


def check(settings: KafkaSettings, *, timeout: float = 5.0) -> None:
    """ConfigError when the cluster refuses the login or the TLS handshake; nothing otherwise."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    refused: list[Any] = []
    fatal = {KafkaError._AUTHENTICATION, KafkaError._SSL}  # noqa: SLF001

    def on_error(err: Any) -> None:
        if err.code() in fatal:
            refused.append(err)

    conf = settings.client_conf(error_cb=on_error, logger=_QUIET)
    try:
        admin = AdminClient(conf)
    except KafkaException as exc:  # a setting librdkafka does not know, or a bad value
        raise ConfigError(f"Kafka settings refused: {exc.args[0].str()}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1)
            return
        except KafkaException:
            admin.poll(0)  # serves error_cb
        if refused:
            what = "login" if refused[0].code() == KafkaError._AUTHENTICATION else "TLS handshake"  # noqa: SLF001
            user = settings.extra.get("sasl.username")
            who = f" as {user!r}" if user and what == "login" else ""
            raise ConfigError(f"Kafka at {','.join(settings.bootstrap)} refused the {what}{who}: "
                              f"{refused[0].str().split(': ', 1)[-1]}")
