"""The Redrive button in a real Chromium: `seamwatch dashboard --allow-redrive` over a store the
tap filled from a real broker; Redrive, the confirmation with the count, Confirm, and the replays
land on the origin topic once each."""

from __future__ import annotations

import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from collectors.kafka.redrive import PROVENANCE
from collectors.store import Store
from tests.collectors.kafka.conftest import bootstrap, kafka_broker, produce, topic_factory, wait_for  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.kafka]


def _dead_letter(origin: str, offset: int) -> tuple[bytes, bytes, list]:
    return (f"k{offset}".encode(), f'{{"orderId": {offset}}}'.encode(), [
        ("tenant", b"acme"), ("kafka_dlt-original-topic", origin.encode()),
        ("kafka_dlt-original-partition", struct.pack(">i", 0)), ("kafka_dlt-original-offset", struct.pack(">q", offset)),
        ("kafka_dlt-original-consumer-group", b"billing"),
        ("kafka_dlt-exception-fqcn", b"java.lang.IllegalStateException")])


def _tap(db: Path, bootstrap: str, prefix: str, dead: int) -> None:  # noqa: F811
    """Seamwatch's tap over the test's topics until the store holds the dead letters."""
    from collectors.kafka.components import build
    from collectors.kafka.config import KafkaSettings
    from collectors.runtime import Runtime

    settings = KafkaSettings(bootstrap=[bootstrap], cluster="c1", include=(prefix + ".*",), lag=False,
                             group_id="tap-" + prefix)
    with Store(db) as store:
        runtime = Runtime(build(store, settings, from_beginning=True))
        runtime.start()
        try:
            wait_for(lambda: store.cursor().execute("SELECT count(*) FROM records WHERE is_dead_letter")
                     .fetchone()[0] == dead, timeout=60, what="the tap storing the dead letters")
        finally:
            assert runtime.stop() == []


def _provenance(bootstrap: str, topic: str) -> list[str]:  # noqa: F811
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex[:6]})
    try:
        end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        c.assign([TopicPartition(topic, 0, 0)])
        got: list = []
        wait_for(lambda: got.extend(m for m in c.consume(100, 0.5) if not m.error()) or len(got) >= end,
                 what=f"all of {topic}")
        return [v.decode() for m in got for n, v in (m.headers() or []) if n == PROVENANCE]
    finally:
        c.close()


@pytest.mark.parametrize("command", ["dashboard", "up"])
def test_redrive_button_confirms_the_count_and_replays_once(command, browser, kit, bootstrap, topic_factory,  # noqa: F811
                                                            produce, tmp_path) -> None:  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    prefix = f"bd-{uuid.uuid4().hex[:6]}"
    orders = topic_factory(name=f"{prefix}.orders")
    dlt = topic_factory(name=f"{prefix}.orders.DLT")
    produce(orders, [(b"k0", b'{"orderId": 0}', []), (b"k1", b'{"orderId": 1}', [])])
    produce(dlt, [_dead_letter(orders, 0), _dead_letter(orders, 1)])
    db = tmp_path / "s.duckdb"
    _tap(db, bootstrap, prefix, dead=2)

    port = kit.free_port()
    log = tmp_path / "dashboard.log"
    with log.open("w") as out:
        # up: the tap and the lag poller write the same store while the button replays (live pages)
        collecting = ["--topic", prefix + ".*", "--tap-group", "tap-" + prefix] if command == "up" else []
        proc = subprocess.Popen(
            kit.seamwatch(command, "--db", str(db), "--port", str(port), "--allow-redrive",
                          "--bootstrap", bootstrap, "--cluster", "c1", *collecting),
            stdout=out, stderr=out, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        kit.wait_healthy(url, proc, log)
        browser.get(f"{url}/dead-letters?range=all")
        kit.settle(browser)
        kit.shoot(browser, f"redrive-{command}-page")

        def button(label: str):
            try:
                found = [b for b in browser.find_elements(By.CSS_SELECTOR, "button") if label in b.text]
            except StaleElementReferenceException:  # a live page redrew itself meanwhile
                return None
            return found[0] if found else None

        def press(label: str) -> None:
            """Click the button, looking it up again when a live page redrew it under the click."""
            def clicked() -> bool:
                b = button(label)
                if b is None:
                    return False
                try:
                    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", b)
                    b.click()
                except StaleElementReferenceException:
                    return False
                return True
            wait_for(clicked, what=f"the button {label!r}")

        press("Redrive 2 dead letters")
        assert kit.shows(browser, f"Replay 2 dead letters (2 from {dlt}) to their origin topics?")
        wait_for(lambda: button("Confirm: redrive 2"), what="the Confirm button")  # the count, in full
        kit.settle(browser)
        kit.shoot(browser, f"redrive-{command}-confirm")
        assert _provenance(bootstrap, orders) == []  # asking sent nothing
        press("Confirm: redrive 2")
        assert kit.shows(browser, f"Redrive: {dlt}: 2 replayed", timeout=60), kit.body_text(browser)[:3000]
        kit.settle(browser)
        time.sleep(0.5)
        kit.shoot(browser, f"redrive-{command}-done")
        assert sorted(_provenance(bootstrap, orders)) == [f"{dlt}/0/0", f"{dlt}/0/1"]
        # replayed, so nothing is left to offer
        assert kit.shows(browser, "Every dead letter shown is recovered or already redriven.")
        assert button("Redrive") is None
    finally:
        kit.stop(proc)
    with Store(db, read_only=True) as store:
        rows = store.cursor().execute(
            "SELECT dlt_offset, state, target_topic, target_offset FROM redrives ORDER BY 1").fetchall()
    assert rows == [(0, "done", orders, 2), (1, "done", orders, 3)]
