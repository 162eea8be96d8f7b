"""A real headless Chromium against `seamwatch demo`, for what AppTest cannot see.

Debian's /usr/bin/chromium and /usr/bin/chromedriver drive the browser; the driver's path
is given explicitly, so Selenium Manager never runs and nothing is downloaded. Without
them the tests skip with the reason, except under CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.net import free_port

CHROMIUM = os.environ.get("SEAMWATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("SEAMWATCH_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1440,1000"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    """Wait on /_stcore/health answering ok (not on sleeps); fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the dashboard exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the dashboard did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def seamwatch(*args: str) -> list[str]:
    """The command line of the seamwatch CLI of this interpreter."""
    # The installed console script, so the holder of a file shows as "seamwatch <command>".
    script = Path(sys.executable).with_name("seamwatch")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-c", "from dashboard.cli import main; main()", *args]


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory):
    """`seamwatch demo` serving the sample shop on a free port; its base URL."""
    _browser_paths()
    root = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = root / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(seamwatch("demo", "--db", str(root / "demo.duckdb"), "--port", str(port)),
                                stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        stop(proc)


def _browser_paths() -> tuple[str, str]:
    for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not Path(path).is_file():
            _unavailable(f"{what} not found at {path} (apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("the selenium package is not installed (pip install -e '.[test]')")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    chromium, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def settle(driver, timeout: float = 120.0) -> None:
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
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "did-not-settle.png"))
    status = [e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')]
    raise AssertionError(f"{driver.current_url} did not finish loading in {timeout:.0f} s "
                         f"(title: {bool(driver.find_elements(By.CSS_SELECTOR, 'h1'))}, status: {status}); "
                         f"screenshot did-not-settle.png")


def charts_drawn(driver, timeout: float = 60.0) -> int:
    """Wait for every plotly chart to have drawn SVG content; return how many there are."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        try:
            charts = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
            drawn = [c for c in charts
                     if c.find_elements(By.CSS_SELECTOR, "svg .trace, svg .annotation, svg .bars path, svg .point")]
        except StaleElementReferenceException:  # a live page redrew itself meanwhile: look again
            charts, drawn = [], []
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


def shows(driver, text: str, timeout: float = 20.0) -> bool:
    """Whether the page shows ``text`` within ``timeout``: a live page redraws itself every
    second, so one look may land between two draws."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            if text in body_text(driver):
                return True
        except StaleElementReferenceException:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


@pytest.fixture
def kit():
    """Helpers to wait on and look at a page (settle, charts_drawn, shoot, body_text, shows) and to
    run seamwatch (free_port, seamwatch, wait_healthy, stop)."""
    return SimpleNamespace(settle=settle, charts_drawn=charts_drawn, shoot=shoot, body_text=body_text, shows=shows,
                           free_port=free_port, seamwatch=seamwatch, wait_healthy=wait_healthy, stop=stop)
