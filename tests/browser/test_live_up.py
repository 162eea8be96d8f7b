"""`seamwatch up` live: spans sent by the real OpenTelemetry SDK appear on an open page without a
reload, the page says how fresh its data is, and Ctrl+C flushes and exits 0."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.browser


def _traces_metric(driver) -> str | None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    # the page redraws itself every second: an element found a moment ago may be gone; look again
    for _ in range(20):
        try:
            for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
                label, _, value = m.text.partition("\n")
                if label.strip() == "Traces":
                    return value.strip()
            return None
        except StaleElementReferenceException:
            time.sleep(0.1)
    return None


def _send_traces(endpoint: str, n: int) -> None:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "live-probe-api"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("seamwatch-live-test")
    for _ in range(n):
        with tracer.start_as_current_span("GET /probe", kind=trace.SpanKind.SERVER):
            pass
    provider.shutdown()


def test_live_page_refreshes_itself(browser, kit, tmp_path) -> None:
    port, otlp = kit.free_port(), kit.free_port()
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(kit.seamwatch("up", "--db", str(tmp_path / "live.duckdb"), "--port", str(port),
                                          "--otlp-http", f"127.0.0.1:{otlp}", "--refresh", "1"),
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        kit.wait_healthy(url, proc, log)
        browser.get(f"{url}/")
        kit.settle(browser)
        assert _traces_metric(browser) == "0"
        assert kit.shows(browser, "refreshing every 1 s"), kit.body_text(browser)
        _send_traces(f"http://127.0.0.1:{otlp}/v1/traces", 7)
        deadline = time.monotonic() + 30
        while _traces_metric(browser) != "7" and time.monotonic() < deadline:
            time.sleep(0.5)  # no reload: the page's own refresh must bring the spans
        assert _traces_metric(browser) == "7"
        assert kit.shows(browser, "Newest data: traces"), kit.body_text(browser)
        assert kit.shows(browser, "Collectors in this process"), kit.body_text(browser)
        assert kit.shows(browser, "live-probe-api", timeout=5) or kit.charts_drawn(browser) >= 1
        kit.shoot(browser, "live-overview")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, log.read_text()[-2000:]
        assert "everything flushed and committed" in log.read_text()
        from collectors.store import Store

        with Store(tmp_path / "live.duckdb", read_only=True) as store:  # released, and everything is in it
            assert store.counts()["spans"] == 7
    finally:
        kit.stop(proc)
