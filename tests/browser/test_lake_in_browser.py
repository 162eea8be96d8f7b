"""Dashboards apart from collectors (issue 14, item 3): a real `seamwatch collect` receives spans
from the OpenTelemetry SDK's exporter into a lake, two `seamwatch dashboard` processes read it,
each open in its own Chromium tab, and both show the new traces by their own refresh, without a
reload; `seamwatch findings` reads the same lake from a third process meanwhile."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.browser.test_live_up import _send_traces, _traces_metric

pytestmark = [pytest.mark.browser, pytest.mark.lake]

REFRESH = 3  # seconds: the dashboards' --refresh


def _wait_traces(driver, want: str, timeout: float) -> float | None:
    """Seconds until the open page shows ``want`` traces, without a reload; None if it never does."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if _traces_metric(driver) == want:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def _between_refreshes(driver, timeout: float = 30.0) -> None:
    """Wait (a while at most) for a moment when no refresh runs, so a screenshot shows no stale part."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]') and time.monotonic() < deadline:
        time.sleep(0.1)


def test_two_dashboards_and_findings_read_a_lake_while_collect_writes_it(browser, kit, new_lake, tmp_path) -> None:
    lake = new_lake()
    otlp, ports = kit.free_port(), [kit.free_port(), kit.free_port()]
    procs: list[subprocess.Popen] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("collect", "dashboard-1", "dashboard-2")}
    try:
        with logs["collect"].open("w") as out:
            procs.append(subprocess.Popen(kit.seamwatch("collect", "--db", lake, "--otlp-http", f"127.0.0.1:{otlp}"),
                                          stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path))
        for i, port in enumerate(ports, 1):
            with logs[f"dashboard-{i}"].open("w") as out:
                procs.append(subprocess.Popen(
                    kit.seamwatch("dashboard", "--db", lake, "--port", str(port), "--refresh", str(REFRESH)),
                    stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for i, url in enumerate(urls, 1):
            kit.wait_healthy(url, procs[i], logs[f"dashboard-{i}"])
        tabs = []
        for i, url in enumerate(urls):
            if i:
                browser.switch_to.new_window("tab")
            browser.get(f"{url}/?range=all")
            # not kit.settle: a live page's refresh runs again and again, so it never stays idle
            assert kit.shows(browser, f"refreshing every {REFRESH} s", timeout=120), kit.body_text(browser)
            tabs.append(browser.current_window_handle)

        for sent, total in ((5, "5"), (3, "8")):
            _send_traces(f"http://127.0.0.1:{otlp}/v1/traces", sent)
            for i, tab in enumerate(tabs, 1):
                browser.switch_to.window(tab)  # no reload: each page must read the lake again by itself
                took = _wait_traces(browser, total, timeout=60)
                assert took is not None, (i, _traces_metric(browser), kit.body_text(browser),
                                          logs["collect"].read_text()[-2000:])
                print(f"dashboard {i} showed {total} traces {took:.1f} s after they were sent or after "
                      f"the previous tab showed them (refresh {REFRESH} s)")
        for i, tab in enumerate(tabs, 1):
            browser.switch_to.window(tab)
            assert kit.shows(browser, "live-probe-api", timeout=10) or kit.charts_drawn(browser) >= 1
            _between_refreshes(browser)
            kit.shoot(browser, f"lake-dashboard-{i}")

        # a third process: findings reads the lake the collector is writing
        out = subprocess.run(kit.seamwatch("findings", "--db", lake, "--json"), capture_output=True, text=True,
                             timeout=180, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["errors"] == {} and doc["window"]["start"] < doc["window"]["end"]
        assert "Traceback" not in out.stderr
        for i, proc in enumerate(procs):
            assert proc.poll() is None, list(logs.values())[i].read_text()[-2000:]
    finally:
        for proc in reversed(procs):
            kit.stop(proc)
        if len(browser.window_handles) > 1:
            for handle in browser.window_handles[1:]:
                browser.switch_to.window(handle)
                browser.close()
            browser.switch_to.window(browser.window_handles[0])
