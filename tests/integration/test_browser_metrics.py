"""The deployment page's live metrics and playground in a real browser (issue 12's "Must
show"): Debian's Chromium, driven by Playwright, against the real ``kubefoundry serve``
process on the sandbox, whose FAKE vLLM (llm-d-inference-sim at the pod's address) answers.

The page reads GET .../metrics every 5 s and draws what it kept; the playground streams a
chat completion as it is generated, then its TTFT and tokens. With KUBEFOUNDRY_SCREENSHOTS=1
it writes the README's screenshot of the page (docs/screenshots/metrics-*.png).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from tests.support import controlplane
from tests.support.browser import CHROMIUM, serving, shots
from tests.support.deploys import deploy

from kubefoundry.cluster import connecting
from kubefoundry.sandbox import model_servers

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install it with `apt-get install chromium` to run the "
    "browser tests (scripts/check does when it runs as root)",
)
WAIT_MS = 60_000


@pytest.fixture
def server(control_plane: controlplane.ControlPlane) -> Iterator[str]:
    with serving("--kubeconfig", str(control_plane.kubeconfig)) as url:
        yield url


def test_the_deployment_page_shows_live_metrics_and_streams_the_playground(
    server: str, conn: connecting.Connection, namespace: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    why = model_servers.unavailable()
    if why:
        pytest.skip(f"the sandbox runs no model servers here: {why}")
    done = deploy(conn, model="qwen2.5-0.5b", runtime="vllm", gpu="L4", replicas=1)
    name = done.result.plan.name
    shoot = os.environ.get("KUBEFOUNDRY_SCREENSHOTS") == "1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server}/deployments/{namespace}/{name}")
            # The model server's own figures, without a reload.
            expect(page.locator("#m-pods")).to_have_text("1 of 1", timeout=WAIT_MS)
            expect(page.locator("#m-running")).to_have_text("0")

            # The playground: the answer streams in, then its figures.
            page.locator("#play-prompt").fill("Hello, who are you?")
            page.locator("#play-max").fill("40")
            page.get_by_role("button", name="Send").click()
            expect(page.locator("#play-stats")).to_contain_text("TTFT", timeout=WAIT_MS)
            # (the simulator ends its random sentence where it likes, up to 40 tokens)
            expect(page.locator("#play-stats")).to_contain_text(re.compile(r"\d+ tokens? in"))
            assert page.locator("#play-answer").inner_text().strip()

            # The next refresh counts what the playground asked: output tokens per second,
            # and the chart has a line of the readings kept.
            expect(page.locator("#m-output")).not_to_have_text("0.0", timeout=WAIT_MS)
            expect(page.locator("#c-output polyline")).to_have_count(1, timeout=WAIT_MS)
            expect(page.locator("#m-cost")).to_contain_text("$")
            page.locator("#metrics").scroll_into_view_if_needed()
            shots(page, "metrics", shoot)

            # No horizontal overflow on a phone.
            page.set_viewport_size({"width": 390, "height": 800})
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 390, f"the page is {wide}px wide at 390px"
        finally:
            browser.close()
