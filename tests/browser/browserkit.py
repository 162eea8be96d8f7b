"""Waiting on and looking at a Streamlit page in Selenium."""

from __future__ import annotations

import time
from pathlib import Path

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def settle(driver, timeout: float = 60.0) -> None:
    """Wait until the page has a title and Streamlit stopped running the script."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        titled = driver.find_elements(By.CSS_SELECTOR, "h1")
        if titled and not running:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.5:
                return
        else:
            quiet_since = None
        time.sleep(0.25)
    raise AssertionError(f"{driver.current_url} did not finish loading in {timeout:.0f} s")


def charts_drawn(driver, timeout: float = 30.0) -> int:
    """Wait for every plotly chart to have drawn SVG content; return how many there are."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        charts = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        drawn = [c for c in charts
                 if c.find_elements(By.CSS_SELECTOR, "svg .trace, svg .annotation, svg .bars path, svg .point")]
        if charts and len(drawn) == len(charts):
            return len(charts)
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(charts) - len(drawn)} of {len(charts)} charts drew nothing on {driver.current_url}")
        time.sleep(0.5)


def shoot(driver, name: str) -> None:
    """A screenshot of the whole page: the window grows to the content's height first."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]') || document.body;"
        "return Math.max(m.scrollHeight, document.body.scrollHeight);"
    )
    driver.set_window_size(1440, min(max(int(height) + 40, 900), 6000))
    time.sleep(0.5)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1440, 1000)


def body_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text
