"""The pages word an error's fix for a person at a form: no CLI flag, no API route.

The catalog's unknown-model page is fetched from the real app; the deployment-not-found page
needs a cluster to reach, so its template is rendered with the very error
``deploy.deploying.missing`` builds, through the app's own template environment.
"""

from __future__ import annotations

import html as html_text
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from kubefoundry.api.app import create_app
from kubefoundry.catalog import models
from kubefoundry.core.errors import NotFoundError, Remedy
from kubefoundry.deploy import deploying
from kubefoundry.web import pages, remedies

FLAG = re.compile(r"(?<![\w/.`-])--[a-z]")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _text(html: str) -> str:
    main = html.split('<main id="main">', 1)[1].split("</main>", 1)[0]
    return html_text.unescape(" ".join(re.sub(r"<[^>]+>", " ", main).split()))


def test_an_unknown_model_page_names_no_flag(client: TestClient) -> None:
    answer = client.get("/models/lama-3.1-8b")
    assert answer.status_code == 404
    said = _text(answer.text)
    assert models.NOT_FOUND_HINT in said
    assert not FLAG.search(said), said
    assert "config FILE" not in said


def test_a_remedy_is_worded_for_the_page_before_the_hint() -> None:
    error = deploying.missing("qwne", namespace="team-a", here=["qwen"])
    assert error.remedies == (Remedy.ALL_NAMESPACES,)
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    html = (
        pages._templates().env.get_template("not_found.html").render(request=request, error=error)
    )
    said = _text(html)
    assert (
        f"{remedies.REMEDIES[Remedy.ALL_NAMESPACES]} Namespace team-a has 1 deployment: qwen."
        in said
    )
    assert "ls -A" not in said
    assert not FLAG.search(said), said


def test_fix_says_nothing_for_an_error_without_hint_or_remedy() -> None:
    assert remedies.fix(NotFoundError(kind="GPU", name="X")) == ""
    assert remedies.fix(NotFoundError(kind="GPU", name="X", hint="Pick one.")) == "Pick one."
