"""What a screen reader and a keyboard need from every page the server renders without a
cluster (issue 10: "keyboard and screen-reader usable"), checked on the real HTML: one h1, a
language, a skip link to the main landmark, every form control named by a label (or an
aria-label), every described-by and label target present, no positive tabindex, buttons and
links with text. The pages that need a cluster are driven in the browser tests."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from kubefoundry.api.app import create_app

PAGES = (
    "/",
    "/?q=llama&task=text-generation",
    "/models/llama-3.1-8b",
    "/models/llama-3.1-8b/render?tier=good",
    "/models/llama-3.1-8b/deploy?tier=best",
    "/models/llama-3.1-405b/deploy?gpu=L4",  # a misfit with its fixes
    "/models/qwen2.5-1.5b/deploy?replicas=0",  # a field in error
    "/settings",
    "/deployments",  # no cluster: says so and offers one
)


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.described: list[str] = []
        self.h1 = 0
        self.lang = ""
        self.skip = ""
        self.tabindex: list[int] = []
        self.open: list[tuple[str, dict[str, str]]] = []
        self.empty: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "html":
            self.lang = a.get("lang", "")
        if tag == "h1":
            self.h1 += 1
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag == "a" and "skip" in a.get("class", ""):
            self.skip = a.get("href", "")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if a.get("aria-describedby"):
            self.described += a["aria-describedby"].split()
        if a.get("tabindex", "").lstrip("-").isdigit():
            self.tabindex.append(int(a["tabindex"]))
        if tag in ("button", "a"):
            self.open.append((tag, a))
            self._text = []

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("button", "a") and self.open:
            _, a = self.open.pop()
            if not "".join(self._text).strip() and not a.get("aria-label"):
                self.empty.append(f"<{tag} {a}>")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_names_its_controls_and_has_its_landmarks(path: str) -> None:
    answer = TestClient(create_app()).get(path)
    assert answer.status_code in (200, 422, 503), answer.text  # 503: no cluster, said so
    page = Page()
    page.feed(answer.text)
    assert page.lang == "en"
    assert page.h1 == 1, f"{page.h1} h1 on {path}"
    assert page.skip == "#main"
    assert "main" in page.ids
    unnamed = [
        c for c in page.controls if c.get("id") not in page.label_for and not c.get("aria-label")
    ]
    assert not unnamed, f"controls without a label on {path}: {unnamed}"
    assert page.label_for <= page.ids, f"labels for nothing on {path}"
    missing = [d for d in page.described if d not in page.ids]
    assert not missing, f"aria-describedby pointing at nothing on {path}: {missing}"
    assert all(t <= 0 for t in page.tabindex), "a positive tabindex breaks the reading order"
    assert not page.empty, f"buttons or links without text on {path}: {page.empty}"
