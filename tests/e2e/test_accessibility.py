"""The public pages pass axe-core (npm, as `make tools` installs it) in Debian's headless
Chromium, driven by Playwright, with no serious or critical violation; and the statistics page
draws its charts with their tables, kept as a screenshot in test-artifacts/.

The pages forbid every script (Content-Security-Policy); the browser context here bypasses that
policy for axe alone, as a browser extension would."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.drafts import Followed, followed
from tests.support.engines import ROOT
from tests.support.journeys import eventually
from tests.support.services import Deployment

ARTIFACTS = ROOT / "test-artifacts"
CACHE = Path(os.environ.get("SUPERVISION_CACHE_DIR") or ROOT / ".cache")
AXE = CACHE / "npm" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and os.geteuid() != 0,
    reason="chromium is not installed and we are not root, so `make tools` could not install it",
)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make tools`", pytrace=False)
    if not AXE.is_file():
        pytest.fail(f"axe-core is not at {AXE}: run `make tools`", pytrace=False)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
async def journey(deployment: Deployment) -> Followed:
    done = await followed(deployment)
    # Until the record, the draft and its report are published.
    async with httpx.AsyncClient(base_url=deployment.disclosure_url) as public:

        async def reported() -> bool:
            reply = await public.get(f"/v1/drafts/{done.draft.draft_id}/versions/1/report")
            return reply.status_code == 200 and reply.json()["totals"]["points"] == 2

        await eventually(reported)
    return done


async def violations(
    browser: Browser, url: str, *, html: str | None = None
) -> list[dict[str, Any]]:
    """axe's violations on the page at ``url`` (or of ``html``, set as a page's content)."""
    context = await browser.new_context(bypass_csp=True, locale="vi-VN")
    try:
        page = await context.new_page()
        if html is None:
            response = await page.goto(url)
            assert response is not None
            assert response.status in {200, 404, 422}, (url, response.status)
        else:
            await page.set_content(html)
        await page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = await page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        return found
    finally:
        await context.close()


async def test_the_public_pages_have_no_serious_or_critical_accessibility_violation(
    deployment: Deployment, browser: Browser, journey: Followed
) -> None:
    base = deployment.disclosure_url
    draft = journey.draft.draft_id
    pages = [
        "/",
        "/search",
        "/search?q=cho&status=answered",
        "/search?draft=khong-phai-ma",
        f"/records/{journey.critique_id}",
        f"/agencies/{journey.office.agency_id}",
        "/drafts",
        f"/drafts/{draft}",
        f"/drafts/{draft}/versions/1/report",
        "/statistics",
        "/records/00000000-0000-0000-0000-000000000000",
    ]
    blocking = {}
    for path in pages:
        found = await violations(browser, base + path)
        serious = [v for v in found if v["impact"] in BLOCKING]
        if serious:
            blocking[path] = [
                {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"][:3]]}
                for v in serious
            ]
    assert not blocking, json.dumps(blocking, ensure_ascii=False, indent=1)


async def test_the_statistics_page_charts_with_tables_and_a_text_alternative(
    deployment: Deployment, browser: Browser, journey: Followed
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1800})
    try:
        page = await context.new_page()
        await page.goto(f"{deployment.disclosure_url}/statistics")
        charts = page.locator("svg[role=img]")
        assert await charts.count() == 6
        for index in range(await charts.count()):
            chart = charts.nth(index)
            labelled = (await chart.get_attribute("aria-labelledby") or "").split()
            assert len(labelled) == 2
            for part in labelled:
                assert (await page.locator(f"#{part}").text_content() or "").strip()
            box = await chart.bounding_box()
            assert box is not None
            assert box["width"] > 300
            assert box["height"] > 100
        assert await page.locator("table").count() == 6
        window = page.locator("#windows-caption").locator("xpath=..")
        late = await window.locator("tbody tr").nth(1).locator("td").text_content()
        assert late is not None
        assert int(late) >= 1, "the journey's draft reached the Front late"
        # No script ran, and none could have: the charts are the server's drawing.
        assert await page.evaluate("document.scripts.length") == 0
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "statistics.png"), full_page=True)
        assert (ARTIFACTS / "statistics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        await context.close()


async def test_the_check_itself_finds_a_critical_violation_where_there_is_one(
    browser: Browser,
) -> None:
    """The harness can fail: an image without a text alternative is critical to axe."""
    found = await violations(
        browser, "", html="<html lang='vi'><title>t</title><body><img src='x.png'></body></html>"
    )
    assert {(v["id"], v["impact"]) for v in found} >= {("image-alt", "critical")}
