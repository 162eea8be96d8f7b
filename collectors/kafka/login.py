"""A login check before the Kafka collectors start: refused credentials are one sentence.

librdkafka retries a refused SASL login or a failed TLS handshake like a broker that is away, so
a wrong password or a CA that did not sign the broker's certificate would show as a metadata
timeout followed by a warning on every reconnect. When the settings ask for SASL or TLS,
`collect` and `up` first ask the cluster for its metadata with the same settings: an
authentication or TLS failure (the broker's certificate not trusted, TLS spoken to a plain
listener) stops the command with one line; a broker that does not answer is left to the
collectors, which wait for it as they always do.
"""

from __future__ import annotations

import logging
import re
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
    plain_listener: list[Any] = []  # TLS to a port that does not speak it: the peer hangs up mid-handshake

    def on_error(err: Any) -> None:
        if err.code() in fatal:
            refused.append(err)
        elif err.code() == KafkaError._TRANSPORT and "PLAINTEXT broker listener?" in err.str():  # noqa: SLF001
            plain_listener.append(err)

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
        where = ",".join(settings.bootstrap)
        if refused and refused[0].code() == KafkaError._AUTHENTICATION:  # noqa: SLF001
            user = settings.extra.get("sasl.username")
            who = f" as {user!r}" if user else ""
            raise ConfigError(f"Kafka at {where} refused the login{who}: {_reason(refused[0])}")
        if refused:
            raise ConfigError(f"the TLS handshake with Kafka at {where} failed: {_reason(refused[0])}")
        if len(plain_listener) > 1:  # more than once: not a broker going down mid-handshake
            raise ConfigError(f"Kafka at {where} hung up on the TLS handshake: that port is no TLS listener "
                              f"(security.protocol={settings.extra.get('security.protocol')} against a "
                              "PLAINTEXT or SASL_PLAINTEXT listener?)")


def _reason(err: Any) -> str:
    """librdkafka's error text without its broker prefix, OpenSSL's error code and the state timing."""
    text = err.str().split(": ", 1)[-1].removeprefix("SSL handshake failed: ")
    text = re.sub(r"error:[0-9A-Fa-f]+:SSL routines::", "", text)
    return re.sub(r" \(after \d+ms in state \w+\)$", "", text)
