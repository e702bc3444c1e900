"""The journey as a user whose RBAC allows one namespace, in a real browser (issue 10).

``kubefoundry serve --auth kubernetes`` on the sandbox: alice (a ServiceAccount with the
chart's deployer Role in namespace A only, ``tests/support/rbac``) signs in with her token
on the login page, sees A's deployment and nothing of B's, and a deploy into B is refused
on the form with nothing created there. Chromium via Playwright, as in the other browser
tests; the server process is real and acts for her by impersonation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.support import controlplane
from tests.support.browser import CHROMIUM, serving, shots
from tests.support.rbac import World, alice_and_bob

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install it with `apt-get install chromium` to run the "
    "browser tests (scripts/check does when it runs as root)",
)


@pytest.fixture(scope="module")
def world(
    control_plane: controlplane.ControlPlane, api_client: client.ApiClient
) -> Iterator[World]:
    with alice_and_bob(control_plane, api_client) as found:
        yield found


@pytest.fixture
def server(control_plane: controlplane.ControlPlane) -> Iterator[str]:
    with serving("--auth", "kubernetes", "--kubeconfig", str(control_plane.kubeconfig)) as url:
        yield url


def test_a_one_namespace_user_sees_hers_only_and_cannot_deploy_elsewhere(
    server: str, world: World, api_client: client.ApiClient
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shoot = os.environ.get("KUBEFOUNDRY_SCREENSHOTS") == "1"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server + "/deployments")
            page.wait_for_url("**/login?next=*")
            shots(page, "login", shoot)
            page.get_by_label("Token").fill("not-a-token")
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("#token-error")).to_be_visible()

            page.get_by_label("Token").fill(world.alice)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/deployments")
            expect(page.get_by_text(world.user)).to_be_visible()  # who is signed in
            rows = page.locator("table#deployments tbody tr")
            expect(rows).to_have_count(1)
            expect(page.get_by_role("link", name=world.deployed[world.a])).to_be_visible()
            assert world.b not in page.locator("table#deployments").inner_text()
            expect(page.get_by_text("RBAC")).to_be_visible()  # says what was hidden

            page.goto(f"{server}/deployments?namespace={world.b}")
            assert world.deployed[world.b] not in page.content()
            expect(page.locator(".refused")).to_contain_text(world.b)  # refused, and says so

            before = client.AppsV1Api(api_client).list_namespaced_deployment(world.b).items
            page.goto(
                f"{server}/models/qwen2.5-1.5b/deploy?gpu=L4&monitoring=none&namespace={world.b}"
            )
            page.locator("#deploy-button").click()
            refused = page.locator(".refused")
            expect(refused).to_be_visible()
            assert world.b in refused.inner_text()
            after = client.AppsV1Api(api_client).list_namespaced_deployment(world.b).items
            assert [d.metadata.name for d in after] == [d.metadata.name for d in before]

            page.get_by_role("button", name="Sign out").click()
            page.goto(server + "/deployments")
            page.wait_for_url("**/login?next=*")
        finally:
            browser.close()
