"""Which path the tap takes, and that a message the native capture cannot take never stops it."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import Message

from collectors.kafka import fastpath
from collectors.kafka.config import KafkaSettings
from collectors.kafka.tap import KafkaTap
from collectors.store import Store

native_only = pytest.mark.skipif(not fastpath.available() and os.environ.get("CI") != "true",
                                 reason="the native tap path was not built (no Rust toolchain at install)")


def _tap(tmp_path, **kw) -> KafkaTap:
    store = Store(tmp_path / "s.duckdb")
    return KafkaTap(store, KafkaSettings(bootstrap=["127.0.0.1:1"], cluster="c1", lag=False), **kw)


@native_only
def test_the_tap_takes_the_native_path_when_built(tmp_path) -> None:
    assert _tap(tmp_path).status().path == "native"
    assert _tap(tmp_path, path="bulk").status().path == "bulk"
    with pytest.raises(ValueError, match="unknown tap path"):
        _tap(tmp_path, path="fast")


@native_only
def test_a_message_the_native_capture_cannot_take_switches_to_python(tmp_path) -> None:
    tap = _tap(tmp_path)
    # headers as a tuple, not the list confluent-kafka gives: Python takes it, the native capture not
    odd = [Message(topic="orders", partition=0, offset=7, key=b"k", value=b'{"id": "e1"}',
                   headers=(("content-type", b"application/json"),), timestamp=(1, 5))]
    with pytest.raises(TypeError):
        fastpath.NativeBatch.from_messages(odd)
    normalizer, batch = tap._capture(odd)  # noqa: SLF001
    assert normalizer.path == "bulk" and tap.status().path == "bulk"
    assert "native capture failed" in tap.status().last_error
    table, errors = normalizer.convert(batch, tapped_at_us=1)
    assert (table.num_rows, errors) == (1, [])
    assert table.column("event_id").to_pylist() == ["e1"]
