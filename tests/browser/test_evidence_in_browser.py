"""The Findings page's evidence and the charts' axes in a real Chromium over `seamwatch demo`:
a trace id in a finding's evidence, also one nested in a message's processings, is a link that
opens the Trace page on that trace, and the charts draw a title on each axis."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, quote, urlparse

import pytest

pytestmark = pytest.mark.browser


def _grids(browser):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')


@pytest.mark.parametrize(("finding", "columns", "x"), [
    ("LONG_SYNC_CHAIN:web-checkout POST /checkout", ["Trace"], 40),
    # the processings nested in a message's row: a table of their own, led by the message
    ("IDEMPOTENCY_VIOLATION:invoicing", ["Message", "Trace", "Span id", "At", "Instance"], 170),
], ids=["trace-ids", "nested-processings"])
def test_a_trace_id_in_the_evidence_opens_the_trace_page(browser, kit, demo_url: str, finding: str,
                                                         columns: list[str], x: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/findings?range=all&finding={quote(finding)}")
    kit.settle(browser)
    # the grid of trace links: its accessible cells hold the links the canvas draws
    grid, deadline = None, time.monotonic() + 30
    while grid is None and time.monotonic() < deadline:  # the grids mount after the script ends
        grid = next((g for g in _grids(browser) if [h.get_attribute("textContent")
                                                    for h in g.find_elements(By.CSS_SELECTOR, "th")][:len(columns)]
                     == columns), None)
        time.sleep(0.25)
    assert grid is not None, kit.body_text(browser)[-3000:]
    href = grid.find_elements(By.CSS_SELECTOR, "td")[columns.index("Trace")].get_attribute("textContent")
    assert urlparse(href).path == "./trace", href
    trace = parse_qs(urlparse(href).query)["trace"][0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    kit.shoot(browser, f"findings-evidence-trace-links-{finding.split(':')[0].lower()}")
    # a click on the first link (row 1 of the canvas, x px into the grid) opens the trace, in this
    # tab or a new one
    before = set(browser.window_handles)
    size = grid.size
    ActionChains(browser).move_to_element_with_offset(
        grid, -size["width"] // 2 + x, -size["height"] // 2 + 35 + 17).click().perform()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "/trace" not in browser.current_url \
            and set(browser.window_handles) == before:
        time.sleep(0.25)
    opened = set(browser.window_handles) - before
    if opened:
        browser.switch_to.window(opened.pop())
    try:
        kit.settle(browser)
        assert "/trace" in browser.current_url and f"trace={trace}" in browser.current_url, browser.current_url
        assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Trace"
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    finally:
        if opened or len(browser.window_handles) > 1:
            browser.close()
            browser.switch_to.window(next(iter(before)))


def test_charts_draw_a_title_on_each_axis(browser, kit, demo_url: str) -> None:
    """The processings scatter and the duplicates bars of the Idempotency page, the status strip
    and the lag lines of Event lag: each axis has its title drawn, time axes in UTC."""
    from selenium.webdriver.common.by import By

    for page in ("idempotency?range=all&group=invoicing", "lag", "redeliveries?range=all"):
        browser.get(f"{demo_url}/{page}")
        kit.settle(browser)
        assert kit.charts_drawn(browser) >= 2
        for chart in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"):
            if not chart.find_elements(By.CSS_SELECTOR, ".xaxislayer-above"):
                continue  # a figure that says why it is empty draws no axes
            x = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".g-xtitle text")]
            y = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".g-ytitle text")]
            assert x and x[0] and "UTC" in x[0], (page, x)
            assert y and y[0], (page, y)
        kit.shoot(browser, f"axis-titles-{page.split('?')[0]}")
