"""The web page in a real browser: Playwright driving Debian chromium headless against a real server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import REPO

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("TFSWA_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("TFSWA_REQUIRE_BROWSER") != "1",
                    reason="Debian chromium is not installed (apt-get install chromium)")
def test_page_uploads_the_demo_and_shows_players_and_spectrograms(server) -> None:
    s = server()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(s.url + "/")
        # the page asked the API for the model's stems
        page.wait_for_selector("#mode option[value=vocals]", state="attached")
        page.set_input_files("#files", str(REPO / "demo" / "demo.flac"))
        assert "demo.flac" in page.inner_text("#chosen")
        page.click("#go")
        page.wait_for_selector(".job .stems audio", timeout=180_000)
        assert "done" in page.inner_text(".job .state")
        assert page.locator(".job audio").count() == 4
        page.wait_for_function("Array.from(document.querySelectorAll('.job img'))"
                               ".every(i => i.complete && i.naturalWidth > 100)", timeout=60_000)
        assert page.locator(".job img").count() == 4
        hrefs = page.eval_on_selector_all(".job a[download]", "els => els.map(e => e.href)")
        assert len(hrefs) == 4 and all("/stems/" in h for h in hrefs)
        page.click("#refresh")
        page.wait_for_selector("#past li")
        assert "demo.flac" in page.inner_text("#past")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "web-page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    assert errors == []
