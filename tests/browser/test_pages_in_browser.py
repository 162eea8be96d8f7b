"""Every page in a real browser over `seamwatch demo`: it loads, shows its key text, its
charts draw, deep links select what they name. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import pytest

from dashboard.pages_registry import PAGES

pytestmark = pytest.mark.browser

# Words each page must show once loaded over the sample (besides its title).
KEY_TEXT = {
    "overview": ["Topology", "Data freshness", "Services"],
    "findings": ["Evidence", "CONSUMER_LAG", "At least"],
    "what-changed": ["New or worse findings", "Consumer lag, then and now"],
    "call-chains": ["Deepest chain", "Entry points, deepest first", "Deepest path", "Latency over time"],
    "trace": ["Duration", "Segment", "Attributes", "Resource"],
    "event-design": ["Design scorecard", "Commit the state change, then publish", "Named like commands",
                     "CreateInvoice", "Design findings and their evidence"],
    "lag": ["Groups not OK", "Consumer groups, worst first", "fulfillment"],
    "redeliveries": ["Redelivered records", "Worst groups"],
    "dead-letters": ["Dead letters", "Headers (decoded)"],
    "idempotency": ["Violations", "Duplicates absorbed"],
    "records": ["Matching records over time", "records match, newest first"],
}


@pytest.mark.parametrize("slug,title", [(p[3], p[1]) for p in PAGES])
def test_page_loads_and_draws(browser, kit, demo_url: str, slug: str, title: str) -> None:
    from selenium.webdriver.common.by import By

    # The default page lives at the root (Streamlit gives it no path of its own).
    base = f"{demo_url}/" if slug == PAGES[0][3] else f"{demo_url}/{slug}"
    browser.get(base)  # the default window: the demo's last 30 minutes must be in it
    kit.settle(browser)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == title
    text = kit.body_text(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), text[:2000]
    assert "Nothing happened in this time range" not in text
    for word in KEY_TEXT.get(slug, []):
        assert word in text, f"{word!r} missing on {slug}"
    assert kit.charts_drawn(browser) >= 1, "every page draws at least one chart, and every chart draws"
    kit.shoot(browser, slug)


def test_deep_link_selects_the_time_range(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/?range=all")
    kit.settle(browser)
    checked = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] input[type="radio"]:checked')
    labels = [c.find_element(By.XPATH, "./ancestor::label").text for c in checked]
    assert labels == ["all data"]
    assert "range=all" in browser.current_url


def test_deep_link_opens_a_group_on_its_page(browser, kit, demo_url: str) -> None:
    """A pasted link names a page, a window and a group: the page opens drilled into that group."""
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/redeliveries?range=all&group=email")
    kit.settle(browser)
    chosen = [i.get_attribute("value") for i in
              browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"] input[aria-label="Consumer group"]')]
    assert chosen == ["email"]
    assert "group=email" in browser.current_url
    assert kit.charts_drawn(browser) >= 2, "the rate chart and the record's processings"
    kit.shoot(browser, "deep-link-redeliveries-email")


def test_scorecard_links_a_failing_subject_to_its_finding_and_the_evidence_opens_by_link(
        browser, kit, demo_url: str) -> None:
    """The scorecard's failing subject links to its finding; a finding link opens its evidence here."""
    from urllib.parse import quote

    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/event-design?range=all")
    kit.settle(browser)
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] a')]
    assert any("/findings?" in h and "finding=PHANTOM_EVENT" in h for h in hrefs), hrefs[:20]
    browser.get(f"{demo_url}/event-design?range=all&finding={quote('OUT_OF_ORDER_PROCESSING:tracking')}")
    kit.settle(browser)
    assert kit.shows(browser, "OUT_OF_ORDER_PROCESSING on tracking")
    text = kit.body_text(browser)
    assert "key changed" in text and "ParcelDispatched" in text
    kit.shoot(browser, "event-design-out-of-order")
