"""Issue 10, cases 18–20 in a real browser: what Streamlit's own Markdown renderer and plotly
make of hostile names. AppTest sees the Markdown source; only a browser shows whether an
image is fetched or a link is clickable. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import pytest

from tests.browser.conftest import browser  # noqa: F401 - the shared headless Chromium fixture
from tests.support.hostile_store import EVIL, HOSTILE

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hostile_url(tmp_path_factory: pytest.TempPathFactory, hostile_db, kit):
    root = tmp_path_factory.mktemp("hostile-browser")
    db = hostile_db
    port = kit.free_port()
    log = root / "dashboard.log"
    with log.open("w") as out:
        proc = subprocess.Popen(kit.seamwatch("dashboard", "--db", str(db), "--port", str(port)),
                                stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        kit.wait_healthy(url, proc, log)
        yield url
    finally:
        kit.stop(proc)


@pytest.fixture(scope="module")
def kit():
    """tests/browser's helpers, at module scope so the server fixture may use them."""
    from types import SimpleNamespace

    from tests.browser import conftest as b

    return SimpleNamespace(settle=b.settle, charts_drawn=b.charts_drawn, shoot=b.shoot, body_text=b.body_text,
                           shows=b.shows, free_port=b.free_port, seamwatch=b.seamwatch,
                           wait_healthy=b.wait_healthy, stop=b.stop)


def _evil_references(driver) -> list[str]:
    """Every element that would fetch from, or link to, the hostile host: <img>, <a> (also SVG's), iframes,
    CSS backgrounds."""
    return driver.execute_script(
        """
        const out = [];
        for (const el of document.querySelectorAll('img, a, iframe, source, image, use')) {
            for (const attr of ['src', 'href', 'xlink:href', 'srcset']) {
                const v = el.getAttribute(attr);
                let host = '';
                try { host = new URL(v, document.baseURI).hostname; } catch (e) { host = v || ''; }
                // Seamwatch's own links may carry a hostile name in their query: only the host counts.
                if (v && host.endsWith(arguments[0])) {
                    const owner = el.closest('[data-testid]');
                    out.push(`${el.tagName} ${attr}=${v} in ${owner ? owner.getAttribute('data-testid') : '?'}: `
                             + (el.parentElement ? el.parentElement.outerHTML.slice(0, 300) : ''));
                }
            }
        }
        for (const el of document.querySelectorAll('*')) {
            const bg = getComputedStyle(el).backgroundImage;
            if (bg && bg.includes(arguments[0])) out.push(el.tagName + ' background ' + bg);
        }
        return out;
        """,
        EVIL,
    )


def _giant_text(driver) -> list[str]:
    """Text drawn at 80 px: a <span style> from the data applied inside a chart."""
    return driver.execute_script(
        """
        return [...document.querySelectorAll('.js-plotly-plot text, .js-plotly-plot tspan')]
            .filter(e => parseFloat(getComputedStyle(e).fontSize) >= 60).map(e => e.textContent);
        """
    )


@pytest.mark.parametrize("slug,query", [
    ("", "range=all"),
    ("call-chains", "range=all"),
    ("call-chains", f"range=all&trace={quote('[Session expired](https://evil.example/login)')}"),
    ("event-design", f"range=all&topic={quote(HOSTILE['shop.orders'])}"),
])
def test_hostile_names_are_text_in_the_browser(browser, kit, hostile_url: str, slug: str, query: str) -> None:  # noqa: F811 - browser
    from selenium.webdriver.common.by import By

    browser.get(f"{hostile_url}/{slug}?{query}")
    kit.settle(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), kit.body_text(browser)[:2000]
    kit.charts_drawn(browser)
    assert _evil_references(browser) == [], "nothing on the page links to or loads from the hostile host"
    assert _giant_text(browser) == [], "no style from the data applies inside a chart"
    text = kit.body_text(browser)
    if slug == "call-chains" and "trace=" in query:
        assert "[Session expired](https://evil.example/login) is not a trace id" in text
    elif slug == "call-chains":
        assert HOSTILE["orders-api"] in text, "the name reads as written in the Markdown"
    elif slug == "event-design":
        assert HOSTILE["shop.orders"] in text
    name = "hostile-" + (slug or "overview") + ("-crafted-link" if "trace=" in query else "")
    kit.shoot(browser, name)

