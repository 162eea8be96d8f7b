"""On a real broker's TLS listeners (scripts/kafka_broker.py: SSL, and SASL/PLAIN over TLS, with a
certificate its own CA signed): `seamwatch collect` taps every record and polls the consumer groups'
offsets with librdkafka's own settings, given as -X or in a --kafka-config file, and `seamwatch
findings` reads what it stored; a CA that did not sign the broker's certificate, or TLS spoken to a
plain listener, stops it with one sentence before the store opens."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import duckdb
import pytest
from confluent_kafka import Consumer, TopicPartition

from collectors.kafka import native_consumer
from tests.collectors.kafka.conftest import _harness, _unavailable, client_args, committed, wait_for
from tests.support.processes import interrupt, seamwatch

pytestmark = pytest.mark.kafka


@pytest.fixture
def tls(kafka_broker) -> tuple[str, str, str]:
    """(SSL bootstrap, SASL_SSL bootstrap, CA certificate file) of the broker's TLS listeners."""
    if kafka_broker.tls is None:
        _unavailable("the broker SEAMWATCH_TEST_BOOTSTRAP names has no TLS listener the tests know")
    ssl, sasl_ssl, ca = kafka_broker.tls
    return ssl, sasl_ssl, str(ca)


@pytest.mark.parametrize("protocol, given", [("SSL", "-X"), ("SASL_SSL", "--kafka-config")])
def test_collect_taps_and_polls_lag_over_tls(protocol, given, kafka_broker, tls, bootstrap, topic_factory, produce,
                                             tmp_path) -> None:
    ssl_address, sasl_ssl_address, ca = tls
    topic = topic_factory("tls")
    produce(topic, [(f"k{i}".encode(), b'{"orderId": "o-%d"}' % i, [("traceparent", b"x")]) for i in range(5)])
    run = uuid.uuid4().hex[:6]
    app = Consumer({"bootstrap.servers": bootstrap, "group.id": f"app-{run}"})  # read 3 of 5, then gone
    app.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    app.close()

    settings = {"security.protocol": protocol, "ssl.ca.location": ca}
    address = ssl_address
    if protocol == "SASL_SSL":
        address, (_, user, password) = sasl_ssl_address, kafka_broker.sasl
        settings |= {"sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": password}
    args = client_args(given, settings, tmp_path)
    tap_group = f"tap-{run}"
    db = tmp_path / "tls.duckdb"
    proc = subprocess.Popen(seamwatch("-v", "collect", "--db", str(db), "--bootstrap", address, "--cluster", "tls",
                                      "--topic", topic, "--from-beginning", "--tap-group", tap_group,
                                      "--poll-interval", "0.5", *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # the tap's offsets are read on the plain listener: it commits them after the store
        wait_for(lambda: proc.poll() is not None or committed(bootstrap, tap_group, topic) >= 5, timeout=60,
                 interval=0.3, what=f"the tap's commit over {protocol}")
        time.sleep(3)  # more of the lag poller's polls (every 0.5 s) after the tap's
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    if native_consumer.chosen() == "native":  # TLS settings pass through to its librdkafka as text
        assert "reading with the native consumer" in out, out
    if "sasl.password" in settings:
        assert settings["sasl.password"] not in out  # secrets never reach a log line
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT cluster, key FROM records WHERE topic = ? ORDER BY \"offset\"", [topic]).fetchall()
        polls = con.execute("SELECT committed_offset, high_watermark, count(*) FROM group_offsets "
                            "WHERE group_id = ? AND topic = ? GROUP BY ALL", [f"app-{run}", topic]).fetchall()
    assert rows == [("tls", f"k{i}") for i in range(5)]
    assert len(polls) == 1 and polls[0][:2] == (3, 5) and polls[0][2] >= 2, polls

    # what a user reads next: the group that stopped two records short, found from the polls over TLS
    res = subprocess.run(seamwatch("findings", "--db", str(db), "--json"), capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    # (the poller reads every group of the cluster: other tests' groups on a shared broker too)
    lag = [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "CONSUMER_LAG" and f["subject"] == f"app-{run}"]
    assert [(f["subject"], f["evidence"]["final_lag"]) for f in lag] == [(f"app-{run}", {f"{topic}/0": 2})], lag


@pytest.mark.parametrize("mistake", ["a CA that did not sign the broker's certificate", "TLS to a plain listener"])
def test_a_tls_mistake_is_one_sentence(mistake, kafka_broker, tls, tmp_path) -> None:
    ssl_address, _, _ = tls
    if mistake.startswith("a CA"):
        address, ca = ssl_address, _harness().self_signed_ca(tmp_path, "stranger")
        expected = f"the TLS handshake with Kafka at {address} failed: certificate verify failed"
    else:
        address, ca = kafka_broker.bootstrap, tls[2]
        expected = f"Kafka at {address} hung up on the TLS handshake: that port is no TLS listener"
    db = tmp_path / "refused.duckdb"
    started = time.monotonic()
    out = subprocess.run(seamwatch("collect", "--db", str(db), "--bootstrap", address,
                                   "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={ca}"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], lines
    assert "Traceback" not in lines[0] and "error:0A" not in lines[0]  # no OpenSSL error codes
    assert not db.exists()  # checked before the store was opened
    assert time.monotonic() - started < 30  # no waiting out the collectors' retries
