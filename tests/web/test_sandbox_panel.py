"""The cluster panel's sandbox button in a real browser (Debian's Chromium, Playwright).

The app is the real one, served by uvicorn in this process so that its sandbox job can start
``FakeSandbox`` (a real start takes seconds to minutes;
``tests/integration/test_sandbox_started_by_api`` makes one). The panel is the real
fragment and script, on a bare page that carries the session's CSRF token the way the
site's pages do: click, see the progress arrive in the live region, see the page reload
once the (fake) sandbox is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from tests.support.browser import CHROMIUM, free_port
from tests.support.fake_sandbox import FakeSandbox

from kubefoundry.api import sandbox as sandbox_api
from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: install it with `apt-get install chromium` to run the "
    "browser test (scripts/check does when it runs as root)",
)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="{{ csrf }}"><link rel="stylesheet" href="/static/style.css">
<title>panel</title></head><body><main>{% include "_connection.html" %}</main></body></html>"""


def _panel_page(app: FastAPI) -> None:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubefoundry.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.from_string(PAGE)

    @app.get("/panel", response_class=HTMLResponse)
    def panel(request: Request) -> str:
        csrf = request.state.auth.csrf  # what the middleware gives the site's pages
        return template.render(csrf=csrf, connection=sandbox_api.connection_state(request.app))


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FakeSandbox]]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    fake = FakeSandbox(tmp_path)
    app = create_app(cluster=Target())
    fake.job(app)
    _panel_page(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", fake
    finally:
        fake.release.set()
        server.should_exit = True
        thread.join(10)


def test_the_button_starts_the_sandbox_shows_its_progress_and_reloads(
    served: tuple[str, FakeSandbox],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, fake = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/panel")
            status = page.get_by_role("status")
            expect(page.get_by_text("No cluster to deploy to.")).to_be_visible()
            button = page.get_by_role("button", name="Start a sandbox")
            button.focus()
            page.keyboard.press("Enter")  # keyboard first

            expect(status).to_contain_text("building testcluster: 1 Go package compiled")
            expect(button).to_be_disabled()
            log = page.get_by_role("list", name="Sandbox progress")
            expect(log).to_contain_text("building testcluster from Go modules")
            assert fake.calls == ["start"]

            with page.expect_navigation():
                fake.release.set()
            # Reloaded: the app now acts on the (fake) sandbox, whose server is not there.
            expect(page.get_by_text("Cannot reach the Kubernetes API server")).to_be_visible()
            expect(page.get_by_role("button", name="Use the running sandbox")).to_be_visible()
        finally:
            browser.close()


def test_a_refused_start_shows_the_servers_reason(served: tuple[str, FakeSandbox]) -> None:
    """What the server says (here: no CSRF token, as a page from before a restart would
    send) shows in the live region, and the button can be pressed again."""
    from playwright.sync_api import expect, sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/panel")
            page.evaluate("document.querySelector('meta[name=csrf-token]').remove()")
            button = page.get_by_role("button", name="Start a sandbox")
            button.click()
            expect(page.get_by_role("status")).to_contain_text("The CSRF token is missing")
            expect(button).to_be_enabled()
        finally:
            browser.close()
