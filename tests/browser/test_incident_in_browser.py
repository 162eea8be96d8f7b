"""The SRE's question on the demo, by clicks alone in a real Chromium (issue 13, item 6):
"checkout is slow and some customers got two invoices; what is going on?"

Each test loads the Overview once; every later step is a click on a link, a list option or
a chart bar the pages render, and asserts what a user would read there. Screenshots of each
step land in artifacts/screenshots/incident-*.png.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _params(driver) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _main_links(driver, *words: str) -> list:
    from selenium.webdriver.common.by import By

    return [a for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] a')
            if all(w in a.text for w in words)]


def _click_link(driver, kit, *words: str, index: int = 0) -> None:
    """Click the page's link whose text holds all ``words`` and wait for the page it opens."""
    found = _main_links(driver, *words)
    assert len(found) > index, f"no link {words} on {driver.current_url}:\n{kit.body_text(driver)[:3000]}"
    before = driver.current_url
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", found[index])
    found[index].click()
    deadline = time.monotonic() + 30
    while driver.current_url == before:
        assert time.monotonic() < deadline, f"the link {words} did not move from {before}"
        time.sleep(0.25)
    kit.settle(driver)


def _pick(driver, kit, label: str, *words: str) -> None:
    """Open the list labelled ``label`` and click the option whose text holds all ``words``."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f'[data-testid="stSelectbox"] input[aria-label="{label}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    deadline = time.monotonic() + 20
    while True:
        options = [o for o in driver.find_elements(By.CSS_SELECTOR, '[role="option"]') if all(w in o.text for w in words)]
        if options:
            break
        assert time.monotonic() < deadline, f"no option {words} in the list {label!r} on {driver.current_url}"
        time.sleep(0.25)
    options[0].click()
    time.sleep(0.5)
    kit.settle(driver)


# Where the topology graph draws a node: its (invisible, clickable) marker's pixel position in the plot.
_NODE_AT = """
const plots = [...document.querySelectorAll('.js-plotly-plot')];
for (const gd of plots) {
  const t = (gd._fullData || []).find(d => d.name === 'nodes');
  if (!t) continue;
  const i = Array.from(t.text).findIndex(s => String(s).startsWith(arguments[0] + '<br>'));
  if (i < 0) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const r = gd.getBoundingClientRect();
  return [plots.indexOf(gd), xa._offset + xa.l2p(t.x[i]) - r.width / 2, ya._offset + ya.l2p(t.y[i]) - r.height / 2];
}
return null;
"""


def _click_node(driver, kit, node: str) -> None:
    """Click the box of ``node`` ('service: web-checkout', as its hover reads) in the Overview's topology graph."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    at = driver.execute_script(_NODE_AT, node)
    assert at, f"no box {node!r} in the topology graph"
    graph = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")[at[0]]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
    time.sleep(0.5)
    # Right of the box's centre: the edges end at its centre, and a click there picks an edge.
    ActionChains(driver).move_to_element_with_offset(graph, int(at[1]) + 12, int(at[2])).pause(0.5).click().perform()
    time.sleep(0.5)
    kit.settle(driver)


def test_who_was_invoiced_twice(browser, kit, demo_url: str) -> None:
    """Overview → Findings → the idempotency finding for invoicing → its evidence (the order and
    the customer) → the two shop.invoices records."""
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/")
    kit.settle(browser)
    assert "Worst right now" in kit.body_text(browser)
    kit.charts_drawn(browser)
    kit.shoot(browser, "incident-1-overview")

    _click_link(browser, kit, "open findings, worst first")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Findings"
    assert kit.shows(browser, "IDEMPOTENCY_VIOLATION · invoicing")
    _pick(browser, kit, "Finding", "IDEMPOTENCY_VIOLATION", "invoicing")
    assert _params(browser).get("finding") == "IDEMPOTENCY_VIOLATION:invoicing"
    assert kit.shows(browser, "IDEMPOTENCY_VIOLATION on group invoicing")
    kit.shoot(browser, "incident-2-finding")

    _click_link(browser, kit, "Idempotency", "invoicing")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Idempotency"
    assert _params(browser).get("group") == "invoicing"
    text = kit.body_text(browser)
    order = re.search(r"Key (ord-\d+)", text)
    customer = re.search(r"accountId (\S+)", text)
    assert order and customer, "the evidence names the order and the customer:\n" + text[:3000]
    assert re.search(r"processed 2× by invoicing, violated", text), text[:3000]
    assert "The side effects: 2 records these processings published" in text
    invoices = _main_links(browser, "Open the record shop.invoices")
    assert len(invoices) == 2, [a.text for a in _main_links(browser, "Open the record")]
    offsets = [re.search(r"partition (\d+) offset ([\d,]+)", a.text).groups() for a in invoices]
    assert len(set(offsets)) == 2, f"two invoices, not one shown twice: {offsets}"
    kit.charts_drawn(browser)
    kit.shoot(browser, "incident-3-idempotency-evidence")

    invoice_ids: list[str] = []
    for n, (partition, offset) in enumerate(offsets):
        if n:  # the browser's Back button, to the evidence again
            browser.back()
            kit.settle(browser)
            assert kit.shows(browser, "The side effects: 2 records these processings published")
        _click_link(browser, kit, "Open the record shop.invoices", f"partition {partition} offset {offset}")
        assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Records"
        rid = _params(browser).get("record")
        assert rid == f"shop.invoices/{partition}/{offset.replace(',', '')}", browser.current_url
        text = kit.body_text(browser)
        for shown in (f"Key {order.group(1)}", f"orderId {order.group(1)}", "Headers (decoded)"):
            assert shown in text, f"{shown!r} missing on the invoice {rid}:\n{text[:3000]}"
        invoice = re.search(r"invoiceId (\S+)", text)
        assert invoice, f"the invoice {rid} names no invoiceId:\n{text[:3000]}"
        invoice_ids.append(invoice.group(1))
        kit.shoot(browser, f"incident-{4 + n}-invoice-record")
    assert len(set(invoice_ids)) == 2, f"one order, two different invoices: {invoice_ids}"


# The waterfall draws one bar trace per service (named for it); each bar's customdata[0] is its
# span id and its x its drawn length: [span id, service, length] of every bar.
_BARS = """
const out = [];
for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  for (const t of (gd._fullData || [])) {
    if (t.type !== 'bar' || !t.customdata) continue;
    const x = Array.from(t.x);
    Array.from(t.customdata).forEach((cd, i) => out.push([String(cd[0]), String(t.name), Number(x[i])]));
  }
}
return out;
"""

_P95 = """
const t = (arguments[0]._fullData || []).find(d => d.name === 'p95');
return t ? Array.from(t.y).map(Number) : null;
"""


def test_why_checkout_is_slow(browser, kit, demo_url: str) -> None:
    """Overview → web-checkout's Call chains → checkout's p95 over time → the slowest request's
    trace, whose longest call is the one to email-service."""
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/")
    kit.settle(browser)
    kit.charts_drawn(browser)
    _click_node(browser, kit, "service: web-checkout")
    assert kit.shows(browser, "Call chains of web-checkout")
    kit.shoot(browser, "incident-6-overview-web-checkout")

    _click_link(browser, kit, "Call chains of web-checkout")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Call chains"
    kit.charts_drawn(browser)
    assert kit.shows(browser, "Latency over time")
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .gtitle")]
    assert any(t.startswith("Latency of web-checkout POST /checkout") for t in titles), titles
    chart = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot") if "Latency of" in c.text)
    assert [e.text for e in chart.find_elements(By.CSS_SELECTOR, ".legendtext")] == ["p99", "p95", "p50"]
    p95 = [v for v in browser.execute_script(_P95, chart) or [] if v == v]  # NaN: a bucket without requests
    assert len(p95) >= 4, f"p95 over time has too few points to read a trend: {p95}"
    typical = sorted(p95)[len(p95) // 2]
    assert max(p95) > 2 * typical, f"checkout's p95 never rises above its median: {p95}"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", chart)
    kit.shoot(browser, "incident-7-checkout-latency")

    _click_link(browser, kit, "Open the slowest request's trace")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Trace"
    kit.charts_drawn(browser)
    assert kit.shows(browser, "web-checkout")
    bars = browser.execute_script(_BARS)
    assert bars, f"no waterfall drawn on {browser.current_url}"
    entry = max(bars, key=lambda b: b[2])
    assert entry[1] == "web-checkout", f"the request is not the longest bar: {entry}"
    calls = sorted((b for b in bars if b[1] not in ("web-checkout", entry[1])), key=lambda b: b[2], reverse=True)
    assert calls and calls[0][1] == "email-service", f"the longest call is not email-service's: {calls[:3]}"
    assert calls[0][2] > entry[2] / 2, f"email-service's call is {calls[0][2]} of the request's {entry[2]}"
    kit.shoot(browser, "incident-8-slowest-trace")
