"""The Dagster UI in headless Debian chromium (Playwright, system executable): the asset graph
shows the five assets, the ``cover_embeddings`` page shows both years materialized and the
year's check results. Screenshots and page text go to ``test-artifacts/``."""
from __future__ import annotations

import re

import pytest

from tests.conftest import CHROMIUM, require_browser
from tests.ui.conftest import ALL_ASSETS, YEARS

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="session", autouse=True)
def _browser_available():
    """Fails (or, with BOOK_ASSETS_SKIP_BROWSER_TESTS=1, skips) before ``dagster dev`` is started."""
    require_browser()


@pytest.fixture(scope="module")
def browser_page(dagster_dev, full_backfill):
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def _save(page, artifacts_dir, name: str) -> str:
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)
    text = page.inner_text("body")
    (artifacts_dir / f"{name}.txt").write_text(text)
    return text


def _wait_for_text(page, pattern: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "(p) => new RegExp(p).test(document.body.innerText)", arg=pattern, timeout=timeout_ms
    )


def test_asset_graph_shows_the_five_assets(dagster_dev, browser_page, artifacts_dir):
    page = browser_page
    page.goto(f"{dagster_dev.url}/asset-groups")
    _wait_for_text(page, "ingest")
    # Groups start collapsed in the global lineage: the graph settings menu expands them all.
    page.locator("button:has([aria-label='settings'])").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    for asset in ALL_ASSETS:
        _wait_for_text(page, re.escape(asset))
    page.wait_for_timeout(1500)  # let node status badges settle
    text = _save(page, artifacts_dir, "dagster-asset-graph")
    labels = {line.strip() for line in text.splitlines()}
    # exactly the five assets are nodes (each name a label of its own, no other asset-like label),
    # and the three expanded groups are boxes labelled with the group name
    assert {label for label in labels if "_" in label} == set(ALL_ASSETS), sorted(labels)
    assert {"ingest", "embeddings", "search"} <= labels, sorted(labels)


def test_cover_embeddings_page_shows_partitions_and_checks(dagster_dev, browser_page, artifacts_dir):
    page = browser_page
    page.goto(f"{dagster_dev.url}/assets/cover_embeddings?view=partitions")
    _wait_for_text(page, YEARS[0])
    _wait_for_text(page, YEARS[1])
    page.wait_for_timeout(1500)
    text = _save(page, artifacts_dir, "dagster-cover-embeddings-partitions")
    # both partitions materialized, none missing or failed
    assert re.search(r"Materialized\s*\(2\)", text), text[:3000]
    assert re.search(r"Failed\s*\(0\)", text) and re.search(r"Missing\s*\(0\)", text), text[:3000]

    page.goto(f"{dagster_dev.url}/assets/cover_embeddings?view=checks")
    _wait_for_text(page, "all_covers_accounted")
    page.wait_for_timeout(1500)
    text = _save(page, artifacts_dir, "dagster-cover-embeddings-checks")
    # each check is listed with its status: Succeeded for all four, nothing failed
    for name in ("failure_rate_below_threshold", "embeddings_valid", "one_row_per_cover", "all_covers_accounted"):
        assert re.search(re.escape(name) + r"\s*\n\s*Succeeded", text), (name, text[:3000])
    assert "Failed" not in text

    # the check's partitions view: both years evaluated, both passed
    page.goto(f"{dagster_dev.url}/assets/cover_embeddings?view=checks&checkDetail=all_covers_accounted")
    _wait_for_text(page, "Execution history")
    page.get_by_text("Partitions", exact=True).last.click()  # the check's tab (the asset's comes first)
    _wait_for_text(page, r"Passed \(\d+\)")
    page.wait_for_timeout(1500)
    text = _save(page, artifacts_dir, "dagster-cover-embeddings-check-detail")
    assert re.search(r"Passed\s*\(2\)", text), text[:3000]
    for status in ("Failed", "Execution Failed", "Missing", "Skipped", "In Progress"):
        assert re.search(re.escape(status) + r"\s*\(0\)", text), (status, text[:3000])
    assert set(YEARS) <= {line.strip() for line in text.splitlines()}, text[:3000]
