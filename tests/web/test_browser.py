"""The pages in a real browser: Debian's Chromium, driven by Playwright, against the real
``kubefoundry serve`` process. With KUBEFOUNDRY_SCREENSHOTS=1 it also writes the README's
screenshots (docs/screenshots/, 1280×800, light and dark); otherwise it writes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.support.browser import CHROMIUM, serving, shots

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install it with `apt-get install chromium` to run the "
    "browser test (scripts/check does when it runs as root)",
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving("--no-cluster") as url:
        yield url


def test_search_pick_a_model_change_the_workload_and_preview_the_yaml(server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    shoot = os.environ.get("KUBEFOUNDRY_SCREENSHOTS") == "1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server + "/")
            # Keyboard first: Tab from the top reaches the search box.
            for _ in range(10):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.id") == "q":
                    break
            assert page.evaluate("document.activeElement.id") == "q"
            shots(page, "catalog", shoot)

            page.keyboard.type("llama")
            page.keyboard.press("Enter")
            page.wait_for_url("**/?q=llama*")
            rows = page.locator("table.models tbody tr")
            assert rows.count() > 0
            assert all("llama" in t.lower() for t in rows.all_inner_texts())

            page.get_by_role("link", name="Llama 3.1 8B Instruct", exact=True).click()
            page.wait_for_url("**/models/meta-llama/Llama-3.1-8B-Instruct*")
            cards = page.locator("article.card")
            expect(cards).to_have_count(3)
            tiers = [c.locator("h2").inner_text() for c in cards.all()]
            assert tiers == ["Good", "Better", "Best"]
            chat = cards.all_inner_texts()
            assert "chat:" in chat[0]
            shots(page, "model", shoot)

            page.get_by_label("Workload", exact=True).select_option("rag")
            page.get_by_label("Peak requests per second").fill("20")
            page.get_by_role("button", name="Plan").click()
            page.wait_for_url("**profile=rag*")
            expect(cards).to_have_count(3)
            rag = cards.all_inner_texts()
            assert rag != chat
            assert all("rag:" in text for text in rag)

            cards.nth(0).get_by_role("link", name="YAML preview").click()
            page.wait_for_url("**/render?tier=good*")
            yaml = page.locator("pre").inner_text()
            assert "kind: Deployment" in yaml
            expect(page.get_by_role("heading", name="Checks")).to_be_visible()
            shots(page, "render", shoot)
        finally:
            browser.close()
