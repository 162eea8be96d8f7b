"""On a real broker's SASL/PLAIN listener (scripts/kafka_broker.py): `seamwatch collect` logs in
with librdkafka's own settings, given as -X or in a --kafka-config file, and taps; a wrong
password stops it with one sentence instead of a metadata timeout."""

from __future__ import annotations

import os
import subprocess
import uuid

import duckdb
import pytest

from collectors.kafka import native_consumer
from tests.collectors.kafka.conftest import client_args, committed, wait_for
from tests.support.processes import interrupt, seamwatch

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("given, consumer", [("-X", "native"), ("--kafka-config", "native"), ("-X", "python")])
def test_collect_taps_through_a_sasl_plain_login(given, consumer, sasl, bootstrap, topic_factory, produce,
                                                  tmp_path) -> None:
    """Both readers log in: the native consumer (the default) and confluent-kafka's."""
    if consumer == "native" and native_consumer.chosen() != "native":
        if os.environ.get("CI") == "true":
            pytest.fail("the native consumer is not available (needs the native module and librdkafka)")
        pytest.skip("the native consumer is not available")
    address, user, password = sasl
    topic = topic_factory("sasl")
    produce(topic, [(f"k{i}".encode(), b'{"orderId": "o-%d"}' % i, [("traceparent", b"x")]) for i in range(5)])
    settings = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.username": user,
                "sasl.password": password}
    args = client_args(given, settings, tmp_path)
    group = f"sasl-{uuid.uuid4().hex[:6]}"
    db = tmp_path / "sasl.duckdb"
    proc = subprocess.Popen(seamwatch("-v", "collect", "--db", str(db), "--bootstrap", address, "--cluster", "sasl",
                                      "--topic", topic, "--from-beginning", "--tap-group", group, *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "SEAMWATCH_KAFKA_CONSUMER": consumer})
    try:  # the group's offsets are read on the plain listener: the tap commits them after the store
        wait_for(lambda: proc.poll() is not None or committed(bootstrap, group, topic) >= 5, timeout=60,
                 interval=0.3, what="the tap's commit over SASL")
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    assert password not in out  # secrets never reach a log line
    assert ("reading with the native consumer" if consumer == "native" else "reading with confluent-kafka") in out
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT cluster, key FROM records WHERE topic = ? ORDER BY \"offset\"", [topic]).fetchall()
    assert rows == [("sasl", f"k{i}") for i in range(5)]


def test_a_wrong_password_is_one_sentence(sasl, tmp_path) -> None:
    address, user, _ = sasl
    db = tmp_path / "refused.duckdb"
    out = subprocess.run(seamwatch("collect", "--db", str(db), "--bootstrap", address,
                                   "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN",
                                   "-X", f"sasl.username={user}", "-X", "sasl.password=not-the-password"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"refused the login as '{user}'" in lines[0] and "Invalid username or password" in lines[0]
    assert "not-the-password" not in lines[0]
    assert not db.exists()  # checked before the store was opened
