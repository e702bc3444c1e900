"""The whole journey in a real browser against the sandbox (issue 10's "Must show").

Debian's Chromium, driven by Playwright, against the real ``kubefoundry serve`` process acting
on the sandbox's real control plane (kwok runs the pods on the fake GPU nodes): browse → pick
a tier → deploy → see it become Ready on the page, without reloading (the page follows the
API's event streams) → scale → delete. With KUBEFOUNDRY_SCREENSHOTS=1 it writes the README's
screenshots of each page (docs/screenshots/, light and dark); otherwise it writes nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import pytest
from tests.support import controlplane
from tests.support.browser import CHROMIUM, serving, shots

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install it with `apt-get install chromium` to run the "
    "browser tests (scripts/check does when it runs as root)",
)

READY_MS = 120_000
PREVIEW_MS = 30_000  # a re-plan on a loaded 2-core CI machine (discovery cached 15 s)
MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


@pytest.fixture
def server(control_plane: controlplane.ControlPlane) -> Iterator[str]:
    with serving("--kubeconfig", str(control_plane.kubeconfig)) as url:
        yield url


def _wait_for_free_l4(kubeconfig: object, wanted: int, timeout_s: float = 180.0) -> None:
    """The sandbox is shared: earlier tests' namespaces may still be giving their L4s back
    (namespace deletion is asynchronous). This test deploys one L4 replica and scales to
    two, so it starts when two are free rather than racing them."""
    from kubefoundry.cluster import connecting
    from kubefoundry.deploy import discovering

    deadline = time.monotonic() + timeout_s
    with connecting.connect(connecting.Target(kubeconfig=kubeconfig)) as conn:  # type: ignore[arg-type]
        while True:
            facts, _ = discovering.discover(conn)
            free = sum(p.free_gpus or 0 for p in facts.gpu_pools() if p.gpu == "L4")
            if free >= wanted:
                return
            assert time.monotonic() < deadline, f"only {free} L4 free after {timeout_s:.0f}s"
            time.sleep(2)


def test_browse_deploy_follow_to_ready_scale_and_delete(
    server: str, namespace: str, control_plane: controlplane.ControlPlane
) -> None:
    from playwright.sync_api import expect, sync_playwright

    _wait_for_free_l4(control_plane.kubeconfig, wanted=2)

    shoot = os.environ.get("KUBEFOUNDRY_SCREENSHOTS") == "1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server + "/?q=qwen2.5")
            page.get_by_role("link", name="Qwen2.5 1.5B Instruct", exact=True).click()
            page.wait_for_url(f"**/models/{MODEL}*")
            good = page.locator("article.card").nth(0)
            good.get_by_role("link", name="Deploy Good").click()
            page.wait_for_url(f"**/models/{MODEL}/deploy?tier=good*")

            page.get_by_label("Namespace").fill(namespace)
            # The preview follows the fields without a click, and without a reload (a mark
            # left on the window survives).
            page.evaluate("window.kfMark = 1")
            page.get_by_label("GPU", exact=True).select_option("H100-80GB-SXM")
            expect(page.locator("#preview")).to_contain_text(
                "H100-80GB-SXM per replica", timeout=PREVIEW_MS
            )
            assert page.evaluate("window.kfMark") == 1
            page.get_by_label("GPU", exact=True).select_option("L4")
            expect(page.locator("#preview")).to_contain_text("× L4 per replica", timeout=PREVIEW_MS)
            page.get_by_label("Monitoring").select_option("none")
            page.get_by_role("button", name="Update preview").click()
            page.wait_for_url(f"**namespace={namespace}*")
            expect(page.get_by_role("heading", name="The plan")).to_be_visible()
            shots(page, "deploy", shoot)

            deploy = page.locator("#deploy-button")
            expect(deploy).to_be_enabled()
            assert namespace in deploy.inner_text()
            deploy.click()
            page.wait_for_url(re.compile(rf".*/deployments/{namespace}/[a-z0-9-]+\?deployed=1$"))
            name = page.url.rsplit("/", 1)[1].split("?")[0]
            # No reload from here: the page follows the status stream to Ready.
            expect(page.locator("#phase-label")).to_have_text("ready", timeout=READY_MS)
            expect(page.locator(".phases li.current")).to_have_text("ready")
            expect(page.locator("#events tbody tr").first).not_to_have_class("empty")
            shots(page, "deployment", shoot)
            # A laptop, a wide monitor and a phone: nothing runs off the side of the page.
            for width, height in ((1024, 700), (1920, 1080), (390, 844)):
                page.set_viewport_size({"width": width, "height": height})
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"{wide}px wide at a {width}px window"
            page.set_viewport_size({"width": 1280, "height": 800})

            page.get_by_label("Replicas").fill("2")
            page.get_by_role("button", name="Scale").click()
            page.wait_for_url("**?scaled=2")
            expect(page.get_by_text("Scaled to 2 replicas")).to_be_visible()
            expect(page.locator("#phase-wanted")).to_have_text("2", timeout=READY_MS)
            expect(page.locator("#phase-label")).to_have_text("ready", timeout=READY_MS)
            expect(page.locator("#phase-ready")).to_have_text("2", timeout=READY_MS)

            page.get_by_role("link", name="Deployments").first.click()
            page.wait_for_url("**/deployments")
            # Its row, by namespace too: other tests' deployments may share the model's name.
            ours = page.locator(f'a[href="/deployments/{namespace}/{name}"]')
            expect(ours).to_be_visible()
            shots(page, "deployments", shoot)
            page.goto(server + "/cluster")
            expect(page.get_by_role("heading", name="GPU pools")).to_be_visible()
            shots(page, "cluster", shoot)

            page.goto(f"{server}/deployments/{namespace}/{name}")
            page.get_by_role("button", name=f"Delete {name}").click()
            page.wait_for_url(f"**/deployments?namespace={namespace}&deleted={name}")
            expect(page.get_by_text("model cache")).to_be_visible()
            expect(page.locator(f'a[href="/deployments/{namespace}/{name}"]')).to_have_count(0)
        finally:
            browser.close()
