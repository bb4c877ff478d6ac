"""The search page in a real browser (Debian chromium via Playwright): cards, thumbnails, escaping."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CHROMIUM, COVERS_DIR, require_browser
from tests.search.conftest import FakeEncoder, make_rows

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PAYLOAD_TITLE = "<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    """Fails (or, with BOOK_ASSETS_SKIP_BROWSER_TESTS=1, skips) before any fixture starts servers."""
    require_browser()


@pytest.fixture(scope="module")
def site(tmp_path_factory, shared_dir):
    from book_assets.milvus.store import CoverStore
    from book_assets.search.api import SearchService
    from book_assets.search.web import BackgroundServer
    from tests.support.cover_server import CoverServer

    with CoverServer(COVERS_DIR) as covers:
        store = CoverStore(str(tmp_path_factory.mktemp("browser") / "covers.db"), collection="browser")
        titles = [f"Cover number {i}" for i in range(12)]
        titles[0] = PAYLOAD_TITLE
        rows = make_rows(2019, 12, seed=7, first_cover=1, titles=titles, url_template=covers.url_template)
        store.reload_year(2019, rows)
        store.reload_year(2020, make_rows(2020, 6, seed=8, first_cover=20, url_template=covers.url_template))
        encoder = FakeEncoder()
        encoder.pin("a lonely robot on a red planet", np.asarray(rows.column("embedding")[0].as_py()))
        with BackgroundServer(SearchService(store, encoder)) as web:
            yield {"url": web.url, "rows": rows}
        store.close()


def test_search_page_renders_covers_and_escapes_titles(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(site["url"] + "/")
            page.fill("#q", "a lonely robot on a red planet")
            page.fill("#year-from", "2019")
            page.fill("#year-to", "2019")
            page.select_option("#top-k", "10")
            page.click("button[type=submit]")
            page.wait_for_selector(".card")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.card img.cover')].every(i => i.complete && i.naturalWidth > 0)",
                timeout=15_000,
            )
            cards = page.query_selector_all(".card")
            assert len(cards) == 10
            srcs = page.eval_on_selector_all(".card img.cover", "els => els.map(e => e.src)")
            expected = set(site["rows"].column("cover_url").to_pylist())
            assert srcs and set(srcs) <= expected
            widths = page.eval_on_selector_all(".card img.cover", "els => els.map(e => e.naturalWidth)")
            assert all(w > 0 for w in widths)
            years = page.eval_on_selector_all(".card .year", "els => els.map(e => e.textContent)")
            assert set(years) == {"2019"}
            # the hostile title is the best hit and shows as text; nothing ran
            assert page.inner_text(".card .title") == PAYLOAD_TITLE
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert page.query_selector(".card .title script") is None
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "search-page.png"), full_page=True)

            # "more like this" on the first card: that edition is excluded, URL reflects it
            first_key = page.get_attribute(".card", "data-edition-key")
            page.click(".card .like")
            page.wait_for_function(
                "k => document.querySelector('.card') && document.querySelector('.card').dataset.editionKey !== k",
                arg=first_key,
            )
            keys = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.editionKey)")
            assert first_key not in keys and len(keys) == 10
            assert "like=" in page.url

            # bad input shows the server's message
            page.fill("#year-from", "2020")
            page.fill("#year-to", "2018")
            page.click("button[type=submit]")
            page.wait_for_selector("#status.error")
            assert "ends before it starts" in page.inner_text("#status")
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert not errors, errors
        finally:
            browser.close()
