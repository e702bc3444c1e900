"""The catalog page's filters (task, licence, "fits my cluster") and its "fits on" column, and
the API's model rows that say the same, through the real application (Starlette's test
client). Against a cluster: ``tests/integration/test_catalog_fits_cluster.py``."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kubefoundry.api.app import create_app
from kubefoundry.catalog import models
from kubefoundry.deploy import fitting, views


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def _listed(page: str) -> list[str]:
    """The model ids the page's table lists, in order."""
    return re.findall(r'<th scope="row"><a href="/models/([^"]+)">', page)


def _options(page: str, select: str) -> list[str]:
    found = re.search(rf'<select id="{select}".*?</select>', page, re.S)
    assert found, f"no select {select}"
    return [v for v in re.findall(r'<option value="([^"]*)"', found.group(0)) if v]


def test_task_and_licence_are_selects_of_the_catalogs_values(client: TestClient) -> None:
    page = client.get("/").text
    rows = [views.model_row(e) for e in models.ModelCatalog.load().all()]
    assert _options(page, "task") == sorted({r["task"] for r in rows})
    assert _options(page, "license") == sorted({r["license"] for r in rows})
    assert '<label for="task">Task</label>' in page
    assert '<label for="license">Licence</label>' in page


@pytest.mark.parametrize(
    "query",
    [
        {"task": "multimodal"},
        {"license": "gemma"},
        {"license": "apache-2.0", "task": "text-generation", "max_params_b": "10"},
    ],
)
def test_the_task_and_licence_filters_list_what_the_api_lists(
    client: TestClient, query: dict[str, str]
) -> None:
    answer = client.get("/", params=query)
    assert answer.status_code == 200, answer.text[:300]
    api = client.get("/api/v1/models", params=query).json()
    assert _listed(answer.text) == [r["id"] for r in api]
    assert api
    for key in ("task", "license"):
        if key in query:
            assert {r[key] for r in api} == {query[key]}
            assert f'<option value="{query[key]}" selected>' in answer.text
    assert f"{len(api)} of {len(models.ModelCatalog.load().all())} models" in answer.text


@pytest.mark.parametrize(("field", "value"), [("task", "text2image"), ("license", "GPL")])
def test_a_value_the_catalog_does_not_hold_is_said_next_to_its_input(
    client: TestClient, field: str, value: str
) -> None:
    answer = client.get("/", params={field: value})
    assert answer.status_code == 422
    said = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', answer.text, re.S)
    assert said, answer.text[:500]
    text = html.unescape(said.group(1))
    assert text.startswith(f"{value}: not one the catalog holds")
    for allowed in _options(answer.text, field):
        assert allowed in text
    assert f'aria-describedby="{field}-error"' in answer.text
    assert _listed(answer.text) == []
    api = client.get("/api/v1/models", params={field: value})
    assert api.status_code == 422
    (problem,) = api.json()["fields"]
    assert problem["field"] == field
    assert problem["value"] == value
    assert problem["message"] == text.removeprefix(f"{value}: ")


def test_each_row_shows_the_gpus_the_model_fits_on(client: TestClient) -> None:
    page = client.get("/").text
    catalog = models.ModelCatalog.load()
    for name in ("qwen3-8b", "llama-3.1-70b", "llama-3.1-405b"):
        entry = catalog.get(name)
        row = re.search(
            rf'<a href="/models/{re.escape(entry.id)}">.*?<td class="fits">(.*?)</td>', page, re.S
        )
        assert row, name
        shown = re.findall(r'<li><abbr title="([^"]+)">[^<]+</abbr>&nbsp;×(\d+)</li>', row.group(1))
        assert shown == [(f.gpu, str(f.count)) for f in fitting.fits_on(entry)]
        assert shown
    assert '<abbr title="H100-80GB-SXM">H100</abbr>&nbsp;×2' in page  # the short name a pin takes
    api = {r["id"]: r["fits_on"] for r in client.get("/api/v1/models").json()}
    seventy = catalog.get("llama-3.1-70b")
    assert {"gpu": "H100-80GB-SXM", "count": 2} in api[seventy.id]
    one = client.get("/api/v1/models/llama-3.1-70b").json()
    assert one["fits_on"] == api[seventy.id]


def test_without_a_cluster_fits_my_cluster_is_disabled_with_the_reason(
    client: TestClient,
) -> None:
    page = client.get("/").text
    box = re.search(r'<input id="fits_cluster"[^>]*>', page)
    assert box
    assert " disabled" in box.group(0)
    assert "No cluster is connected" in page
    asked = client.get("/", params={"fits_cluster": "true"})
    assert asked.status_code == 503
    assert 'id="fits_cluster-error">Not filtered by the cluster.' in asked.text
    assert len(_listed(asked.text)) == len(models.ModelCatalog.load().all())
    api = client.get("/api/v1/models", params={"fits_cluster": "true"})
    assert api.status_code == 503
    assert api.json()["error"] == "unavailable"
    assert client.get("/api/v1/models", params={"fits_cluster": "false"}).status_code == 200
