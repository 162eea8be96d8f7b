"""The Records page in a real Chromium over `seamwatch demo`: from an idempotency violation to
the record, its customer and its two invoices; a search typed into the form."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def test_idempotency_row_opens_the_record_with_its_customer_and_invoices(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/idempotency?range=all&group=invoicing")
    kit.settle(browser)
    text = kit.body_text(browser)
    key = re.search(r"Key (ord-\d+)", text)
    account = re.search(r"accountId (\S+)", text)
    assert key and account, "the violation names its order and customer:\n" + text[:3000]
    assert "The side effects: 2 records these processings published" in text
    kit.shoot(browser, "idempotency-invoicing-identity")

    browser.find_element(By.XPATH, "//a[contains(., 'Open the record shop.orders')]").click()
    kit.settle(browser)
    assert "/records" in browser.current_url and "record=shop.orders" in browser.current_url.replace("%2F", "/")
    text = kit.body_text(browser)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Records"
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), text[:2000]
    for shown in (f"Key {key.group(1)}", f"accountId {account.group(1)}", "invoicing: 2 processings",
                  "Records its processings published", "Headers (decoded)"):
        assert shown in text, f"{shown!r} missing on the record's detail"
    kit.shoot(browser, "records-detail-double-invoice")

    # the same order by a search typed into the form
    browser.get(f"{demo_url}/records?range=all")
    kit.settle(browser)
    box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Key"]')
    box.send_keys(key.group(1))
    next(b for b in browser.find_elements(By.CSS_SELECTOR, "button") if b.text.strip().endswith("Search")).click()
    assert kit.shows(browser, "records match, newest first")
    kit.settle(browser)
    assert f"key={key.group(1)}" in browser.current_url
    found = re.search(r"([\d,]+) records? match", kit.body_text(browser))
    assert found and int(found.group(1).replace(",", "")) >= 3, "the order and its two invoices share its key"
    assert kit.charts_drawn(browser) >= 1
    kit.shoot(browser, "records-search-by-key")

    # a click on a result row opens its detail; "Back to search" returns to the same results
    from selenium.webdriver.common.action_chains import ActionChains

    grid = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    size = grid.size
    ActionChains(browser).move_to_element_with_offset(
        grid, -size["width"] // 2 + 18, -size["height"] // 2 + 35 + 17).click().perform()
    assert kit.shows(browser, "Back to search"), "a selected row opens its record"
    kit.settle(browser)
    assert "record=" in browser.current_url and f"key={key.group(1)}" in browser.current_url
    back = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button") if "Back to search" in b.text)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", back)
    back.click()
    kit.settle(browser)
    assert "record=" not in browser.current_url and "Back to search" not in kit.body_text(browser)
    assert "records match, newest first" in kit.body_text(browser)


def test_the_record_value_box_shows_its_last_line(browser, kit, demo_url: str) -> None:
    """The value box was sized from its line count, and wrapped lines (long ids) pushed the
    closing brace below its edge: every line of an event's value is in view, none scrolled off."""
    from selenium.webdriver.common.by import By

    browser.get(f"{demo_url}/records?range=all&record=shop.orders/0/0")
    kit.settle(browser)
    box = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stCode"] pre')[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    shown = box.text
    assert shown.rstrip().endswith("}") and '"eventId"' in shown, shown[:500]
    scroll, client = browser.execute_script("return [arguments[0].scrollHeight, arguments[0].clientHeight]", box)
    assert scroll <= client, f"the value box scrolls: {scroll} px of text in {client} px"
    # the last line lies inside the box, not below its bottom edge
    last = browser.execute_script("""
        const pre = arguments[0], range = document.createRange();
        range.selectNodeContents(pre); const rects = range.getClientRects();
        return [rects[rects.length - 1].bottom, pre.getBoundingClientRect().bottom];""", box)
    assert last[0] <= last[1] + 0.5, last
    from tests.browser.conftest import SHOTS

    box.screenshot(str(SHOTS / "records-value-box.png"))
