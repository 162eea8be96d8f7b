"""Deep links that used to mislead, in a real Chromium (issue 13, item 5): a dead-letter link
honours its topic, a click on a findings row opens that finding, an unknown page or range
says so, and a store with two Kafka clusters offers the choice. Screenshots of the pages
touched land in artifacts/screenshots/ (light and dark)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from collectors.store import Store

pytestmark = pytest.mark.browser


def _open(browser, kit, url: str) -> str:
    browser.get(url)
    kit.settle(browser)
    return kit.body_text(browser)


def _selected(browser, label: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [i.get_attribute("value") for i in
            browser.find_elements(By.CSS_SELECTOR, f'[data-testid="stSelectbox"] input[aria-label="{label}"]')]


def test_a_dead_letter_link_opens_its_topic(browser, kit, demo_url: str) -> None:
    text = _open(browser, kit, f"{demo_url}/dead-letters?range=all&topic=shop.orders.DLT"
                               "&record=warehouse-sink-dlq/0/0")
    assert _selected(browser, "Topic (dead-letter or origin)") == ["shop.orders.DLT"]
    chosen = _selected(browser, "Dead letter")
    assert len(chosen) == 1 and chosen[0].startswith("shop.orders.DLT @"), chosen
    assert "warehouse-sink-dlq/0/0”, which is not among the choices" in text
    assert "topic=shop.orders.DLT" in browser.current_url and "record=shop.orders.DLT" in browser.current_url
    kit.charts_drawn(browser)
    kit.shoot(browser, "dead-letters")


def test_clicking_a_findings_row_opens_that_finding(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(browser, kit, f"{demo_url}/findings?range=all")
    kit.charts_drawn(browser)
    kit.shoot(browser, "findings")
    first = _selected(browser, "Finding")
    grid = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", grid)
    time.sleep(0.5)
    # the third data row, in the row-marker column at the left (header and rows are 35 px high)
    top = grid.size["height"] / 2
    ActionChains(browser).move_to_element_with_offset(grid, -grid.size["width"] / 2 + 18,
                                                      -top + 35 * 3 + 17).click().perform()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _selected(browser, "Finding") == first:
        time.sleep(0.5)
    kit.settle(browser)
    now = _selected(browser, "Finding")
    assert now != first, "a click on a row opens that finding"
    assert "finding=" in browser.current_url
    rule = now[0].split(" · ")[1]
    assert f"finding={rule}" in browser.current_url.replace("%3A", ":")


@pytest.mark.parametrize("query,said", [
    ("page=no-such-page", "page “no-such-page”, which does not exist"),
    ("range=2h", "time range “2h”, which does not exist"),
])
def test_an_unknown_link_says_so(browser, kit, demo_url: str, query: str, said: str) -> None:
    assert kit.shows(browser, said) if (_open(browser, kit, f"{demo_url}/?{query}") or True) else False


def test_an_unknown_finding_says_so(browser, kit, demo_url: str) -> None:
    text = _open(browser, kit, f"{demo_url}/findings?range=all&finding=NO_SUCH_RULE:nobody")
    assert "finding “NO_SUCH_RULE:nobody”, which is not among the choices" in text


def test_the_group_chosen_on_one_page_opens_the_next(browser, kit, demo_url: str) -> None:
    from selenium.webdriver.common.by import By

    _open(browser, kit, f"{demo_url}/redeliveries?range=all&group=email")
    assert _selected(browser, "Consumer group") == ["email"]
    browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[href$="/idempotency"]').click()
    kit.settle(browser)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.strip() == "Idempotency"
    assert "range=all" in browser.current_url, "the range follows"
    options = _selected(browser, "Consumer group")
    assert options, "the idempotency page lists groups"


def test_what_changed_and_overview_screenshots(browser, kit, demo_url: str) -> None:
    text = _open(browser, kit, f"{demo_url}/what-changed")
    assert "Comparing" in text and "None" not in text.split("Consumer lag, then and now")[-1].split("\n")[0]
    kit.charts_drawn(browser)
    kit.shoot(browser, "what-changed")
    _open(browser, kit, f"{demo_url}/")
    kit.charts_drawn(browser)
    kit.shoot(browser, "overview")


def test_charts_follow_the_dark_theme(browser, kit, demo_url: str) -> None:
    """With the system in dark mode Streamlit draws dark: no chart may stay a white box."""
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        _open(browser, kit, f"{demo_url}/what-changed?range=all")
        kit.charts_drawn(browser)
        backgrounds = browser.execute_script(
            "return [...document.querySelectorAll('.js-plotly-plot .main-svg')]"
            ".map(s => getComputedStyle(s).backgroundColor)")
        page = browser.execute_script("return getComputedStyle(document.querySelector('[data-testid=\"stApp\"]'))"
                                      ".backgroundColor")
        assert page not in ("rgb(255, 255, 255)",), "the app is dark"
        assert backgrounds and not [b for b in backgrounds if b in ("rgb(255, 255, 255)", "white")], backgrounds
        kit.shoot(browser, "what-changed-dark")
        _open(browser, kit, f"{demo_url}/dead-letters?range=all")
        kit.charts_drawn(browser)
        kit.shoot(browser, "dead-letters-dark")
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


@pytest.fixture(scope="module")
def two_cluster_url(tmp_path_factory, kit_module):
    """`seamwatch dashboard` over the sample plus its payments topic from a second cluster."""
    from tests.dashboard.views.conftest import build_sample

    root = tmp_path_factory.mktemp("clusters")
    db = root / "two.duckdb"
    build_sample(db, root / "data")
    with Store(db) as store:
        store.con.execute("INSERT INTO records SELECT * REPLACE ('staging' AS cluster) FROM records "
                          "WHERE topic = 'shop.payments'")
        staging = store.con.execute("SELECT count(*) FROM records WHERE cluster = 'staging'").fetchone()[0]
    port = kit_module.free_port()
    log = root / "dashboard.log"
    with log.open("w") as out:
        proc = subprocess.Popen(kit_module.seamwatch("dashboard", "--db", str(db), "--port", str(port)),
                                stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        kit_module.wait_healthy(url, proc, log)
        yield url, staging
    finally:
        kit_module.stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def kit_module():
    from tests.browser import conftest

    return conftest.SimpleNamespace(free_port=conftest.free_port, seamwatch=conftest.seamwatch,
                                    wait_healthy=conftest.wait_healthy, stop=conftest.stop)


def test_two_clusters_offer_a_choice_every_page_honours(browser, kit, two_cluster_url) -> None:
    from selenium.webdriver.common.by import By

    url, staging = two_cluster_url
    _open(browser, kit, f"{url}/?range=all&cluster=staging")
    assert _selected(browser, "Kafka cluster") == ["staging"]
    metrics = {m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip():
               m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
               for m in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')}
    assert metrics["Kafka records"] == f"{staging:,}", metrics
    browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[href$="/dead-letters"]').click()
    kit.settle(browser)
    assert _selected(browser, "Kafka cluster") == ["staging"], "the choice holds across pages"
    assert "cluster=staging" in browser.current_url
    assert "No record landed in a dead-letter topic" in kit.body_text(browser), "staging has no dead letters"
    kit.shoot(browser, "cluster-staging-dead-letters")
    text = _open(browser, kit, f"{url}/?range=all&cluster=prod")
    assert "Kafka cluster “prod”, which this store does not hold" in text


def test_an_unknown_page_path_says_so(browser, kit, demo_url: str) -> None:
    """/no-such-page (a path, not ?page=): Streamlit's navigation says so itself, over the Overview."""
    browser.get(f"{demo_url}/no-such-page?range=all")
    kit.settle(browser)
    assert kit.shows(browser, "Page not found"), kit.body_text(browser)[-500:]
    assert "does not seem to exist" in kit.body_text(browser)
