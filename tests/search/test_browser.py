"""The search page in a real browser (Debian chromium via Playwright): cards, thumbnails, escaping,
Back/Forward, shared links, server errors, results without a cover."""
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
        store.reload_year(2021, make_rows(2021, 2, seed=9, first_cover=40, url_template=""))  # no cover URL
        encoder = FakeEncoder()
        encoder.pin("a lonely robot on a red planet", np.asarray(rows.column("embedding")[0].as_py()))
        with BackgroundServer(SearchService(store, encoder)) as web:
            yield {"url": web.url, "rows": rows, "store": store}
        store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    """A fresh page; ``page.errors`` collects uncaught script errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    page.close()


def settled(page) -> list[str]:
    """Wait until no search is in flight; the years shown on the cards."""
    page.wait_for_function("() => !document.getElementById('status').textContent.startsWith('Searching')")
    return sorted(set(page.eval_on_selector_all(".card .year", "els => els.map(e => e.textContent)")))


def test_search_page_renders_covers_and_escapes_titles(site, page):
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
    assert not page.errors, page.errors


def test_back_and_forward_restore_the_whole_search(site, page):
    """Back/Forward re-run the search in the URL: years, query and top_k come from it, not from the
    form as the user last left it; going back to the bare page clears the results."""
    page.goto(site["url"] + "/")
    page.fill("#q", "robot")
    page.select_option("#top-k", "50")
    page.click("button[type=submit]")
    assert settled(page) == ["2019", "2020", "2021"]
    page.fill("#year-from", "2019")
    page.fill("#year-to", "2019")
    page.select_option("#top-k", "10")
    page.click("button[type=submit]")
    assert settled(page) == ["2019"]
    assert len(page.query_selector_all(".card")) == 10

    with page.expect_response(lambda r: "/api/search?" in r.url) as response:
        page.go_back()
    assert "years" not in response.value.url and "top_k=50" in response.value.url
    assert settled(page) == ["2019", "2020", "2021"]
    assert (page.input_value("#year-from"), page.input_value("#year-to"), page.input_value("#top-k")) == ("", "", "50")

    with page.expect_response(lambda r: "/api/search?" in r.url):
        page.go_forward()
    assert settled(page) == ["2019"]
    assert (page.input_value("#year-from"), page.input_value("#year-to"), page.input_value("#top-k")) == ("2019", "2019", "10")

    page.go_back()
    page.go_back()  # the page as first opened: no query, no results
    page.wait_for_function("() => !document.querySelector('.card')", timeout=5_000)
    assert page.input_value("#q") == "" and page.input_value("#top-k") == "20"
    assert page.inner_text("#status") == ""
    assert not page.errors, page.errors


def test_shared_link_with_top_k_missing_from_the_dropdown(site, page):
    page.goto(site["url"] + "/?q=robot&top_k=5")  # the API takes 1-100; the dropdown offers 10/20/50/100
    settled(page)
    assert page.query_selector("#status.error") is None, page.inner_text("#status")
    assert len(page.query_selector_all(".card")) == 5
    assert page.input_value("#top-k") == "5"
    options = page.eval_on_selector_all("#top-k option", "els => els.map(e => e.value)")
    assert options == ["5", "10", "20", "50", "100"]
    # a value the API would refuse falls back to the page's default
    page.goto(site["url"] + "/?q=robot&top_k=1000")
    settled(page)
    assert page.query_selector("#status.error") is None, page.inner_text("#status")
    assert page.input_value("#top-k") == "20" and len(page.query_selector_all(".card")) == 20
    assert not page.errors, page.errors


def test_server_errors_show_a_clear_message(site, page, monkeypatch):
    from pymilvus.exceptions import MilvusException

    def milvus_down(*args, **kwargs):
        raise MilvusException(message="server unavailable")

    page.goto(site["url"] + "/?q=robot&years=2019")
    settled(page)
    assert page.query_selector(".card")
    # the search backend fails: the server's JSON message, and the old results are gone
    monkeypatch.setattr(site["store"], "search", milvus_down)
    page.click("button[type=submit]")
    page.wait_for_selector("#status.error")
    assert page.inner_text("#status") == "search backend unavailable"
    assert page.query_selector(".card") is None
    monkeypatch.undo()
    # something between (a proxy, a crashed server) answers with a non-JSON page
    page.route("**/api/search?*", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body>Bad Gateway</body></html>"))
    page.goto(site["url"] + "/?q=robot")
    page.wait_for_selector("#status.error")
    status = page.inner_text("#status")
    assert "502" in status and "SyntaxError" not in status, status
    assert not page.errors, page.errors


def test_result_without_cover_url_shows_a_placeholder(site, page):
    image_requests: list[str] = []
    page.on("request", lambda r: image_requests.append(r.url) if r.resource_type == "image" else None)
    page.goto(site["url"] + "/?q=robot&years=2021")
    assert settled(page) == ["2021"]
    page.wait_for_timeout(300)
    assert image_requests == []  # in particular, not the page itself as an "image"
    assert len(page.query_selector_all(".card")) == 2
    assert page.query_selector(".card img") is None
    assert page.eval_on_selector_all(".card .no-cover", "els => els.map(e => e.textContent)") == ["No cover"] * 2
    assert not page.errors, page.errors
