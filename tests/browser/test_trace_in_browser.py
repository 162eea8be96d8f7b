"""The Trace view and checkout's latency in a real Chromium over `seamwatch demo`: click a span,
follow its message to the consumer's trace and back to the producer, and see the latency chart."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

# The waterfall's bars carry [span id, label, kind, duration, start] as customdata: find one whose
# kind starts with the given word, and return its trace and point index in the drawn figure.
_FIND_BAR = """
const plots = [...document.querySelectorAll('.js-plotly-plot')];
for (const gd of plots) {
  if (!gd.data) continue;
  for (let t = 0; t < gd.data.length; t++) {
    const cd = gd.data[t].customdata || [];
    for (let p = 0; p < cd.length; p++) {
      if (Array.isArray(cd[p]) && String(cd[p][2]).startsWith(arguments[0])
          && (arguments[1] === null || cd[p][0] === arguments[1])) {
        return [plots.indexOf(gd), t, p, cd[p][0]];
      }
    }
  }
}
return null;
"""


def _params(driver) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _click_bar(driver, kind: str, span: str | None = None) -> str:
    """Click the waterfall bar of the first span of that kind (or that span); its span id."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    found = driver.execute_script(_FIND_BAR, kind, span)
    assert found, f"no {kind} span drawn on {driver.current_url}"
    plot, trace, point, span_id = found
    gd = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[plot]
    bar = gd.find_elements(By.CSS_SELECTOR, ".barlayer .trace")[trace].find_elements(By.CSS_SELECTOR, ".point")[point]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", gd)
    ActionChains(driver).move_to_element(bar).click().perform()
    return span_id


def _wait_param(driver, name: str, value: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _params(driver).get(name) != value:
        assert time.monotonic() < deadline, f"{name}={value} never reached the address bar: {driver.current_url}"
        time.sleep(0.25)


def _follow(driver, kit, *words: str) -> dict[str, str]:
    """Click the first button whose text holds all ``words``; the params the page then shows."""
    from selenium.webdriver.common.by import By

    before = _params(driver)
    button = next((b for b in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stButton"] button')
                   if all(w in b.text for w in words)), None)
    assert button is not None, f"no button {words} on {driver.current_url}:\n{kit.body_text(driver)[:3000]}"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    deadline = time.monotonic() + 30
    while _params(driver) == before:
        assert time.monotonic() < deadline, f"{words} did not move from {driver.current_url}"
        time.sleep(0.25)
    kit.settle(driver)
    kit.charts_drawn(driver)
    return _params(driver)


def test_click_a_span_then_follow_its_message_to_the_consumer_and_back(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{demo_url}/trace?range=all")  # the slowest request of the demo, at its slowest segment
    kit.settle(browser)
    kit.charts_drawn(browser)
    assert kit.shows(browser, "Duration")
    request = _params(browser)["trace"]
    box = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input[aria-label="Segment"]')
    box.click()
    box.send_keys("whole trace", Keys.ENTER)
    kit.settle(browser)
    kit.charts_drawn(browser)

    # A click on the producer span's bar shows that span in full.
    producer = _click_bar(browser, "producer")
    _wait_param(browser, "span", producer)
    kit.settle(browser)
    assert kit.shows(browser, "Attributes") and kit.shows(browser, "Events")
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stHeading"] h3')]
    assert any(" · send " in h or h.endswith(" publish") or " · publish" in h for h in heads), heads
    kit.shoot(browser, "trace-producer-span")

    # Its message leads to a consumer's trace, opened at the consumer's span …
    there = _follow(browser, kit, "Consumer:", "(in trace ")
    assert there["trace"] != request
    assert _params(browser)["span"] == there["span"]
    assert kit.shows(browser, "Producer:")
    kit.shoot(browser, "trace-consumer-span")

    # … and the consumer's span leads back to the producer span of the first trace.
    back = _follow(browser, kit, "Producer:")
    assert (back["trace"], back["span"]) == (request, producer)
    assert _params(browser)["span"] == producer


def test_checkout_latency_over_time_is_drawn(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/call-chains?range=all")
    kit.settle(browser)
    kit.charts_drawn(browser)
    assert kit.shows(browser, "Latency over time")
    assert kit.shows(browser, "Slowest requests of web-checkout POST /checkout")
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .gtitle")]
    assert any(t.startswith("Latency of web-checkout POST /checkout") for t in titles), titles
    chart = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
                 if "Latency of" in c.text)
    legend = [e.text for e in chart.find_elements(By.CSS_SELECTOR, ".legendtext")]
    assert legend == ["p99", "p95", "p50"]
    assert chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace path.js-line")
    kit.shoot(browser, "call-chains-latency")
