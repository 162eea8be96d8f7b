"""Reading a confluent-kafka Message's headers without stalling or crashing on a bad name.

A librdkafka producer may name a header with any bytes (a Java producer cannot). confluent-kafka
(2.16) cannot read a name that is not UTF-8: ``Message.headers()`` returns the list with a
``UnicodeDecodeError`` still pending and a NULL where the name should be. Called from C the call is
checked and raises ``SystemError``; called from Python code that CPython has specialised (once
warm) it is not, and the list crashes the interpreter when touched; asked a second time, it
answers the broken list without raising. So every reader asks once a message, through
``read_headers`` (an ``operator.methodcaller``: called from C, always checked).

No pyarrow here: the CLI imports this (through the redrive) before `collect` keeps pandas out.
"""

from __future__ import annotations

import logging
import operator
from typing import Any

from collectors.logrepeat import rate_limit

log = logging.getLogger(__name__)
rate_limit(log)  # one line a kind per interval: a producer that writes a bad header name writes many

UNREADABLE = (SystemError, UnicodeDecodeError, ValueError)  # what a checked headers() raises for them
read_headers = operator.methodcaller("headers")


UNREAD = object()  # what message_headers(msg, unreadable=UNREAD) returns for headers it cannot read


def message_headers(msg: Any, unreadable: Any = None) -> Any:
    """The message's headers, or ``unreadable`` (None: as if it had none) when confluent-kafka
    cannot read them. The record is then stored without its headers, said in one line: one bad
    header name must not stop the tap (the native consumer reads such names, the bytes that are
    not UTF-8 replaced)."""
    try:
        return read_headers(msg)
    except UNREADABLE:
        headers_unreadable(msg.topic(), msg.partition(), msg.offset())
        return unreadable


def without_headers(msg: Any) -> Any:
    """A copy of ``msg`` without its headers, for a message whose headers were found unreadable:
    what reads it next must not ask confluent-kafka for them again."""
    from confluent_kafka import Message

    return Message(topic=msg.topic(), partition=msg.partition(), offset=msg.offset(), key=msg.key(),
                   value=msg.value(), headers=None, timestamp=msg.timestamp())


def headers_unreadable(topic: str, partition: int, offset: int) -> None:
    log.warning("%s/%d/%d is stored without its headers: a header name is not UTF-8, which confluent-kafka's "
                "consumer cannot read", topic, partition, offset)
