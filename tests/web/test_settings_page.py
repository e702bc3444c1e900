"""The settings page without a cluster (issue 10): GPU prices through the form, stored in the
user's config folder (``tests/conftest`` points XDG_CONFIG_HOME at a temporary one) and then
used by the next plan on the model page; bad prices refused by field, nothing stored. The
token half needs a cluster: ``tests/integration/test_web_settings.py``."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.support import forms

from kubefoundry.api.app import create_app


def _client() -> TestClient:
    return TestClient(create_app(), follow_redirects=False)


def test_prices_saved_through_the_form_price_the_next_plan() -> None:
    web = _client()
    shown = web.get("/settings")
    assert shown.status_code == 200
    assert 'id="price-L4"' in shown.text
    assert "No cluster to keep it in" in shown.text  # the token needs a cluster

    saved = web.post("/settings/gpu-prices", data={"price-L4": "0.4", **forms.csrf(shown.text)})
    assert saved.status_code == 303, saved.text
    again = web.get(saved.headers["location"])
    assert "Prices saved" in again.text
    field = re.search(r'<input id="price-L4"[^>]*>', again.text)
    assert field is not None
    assert 'value="0.4"' in field.group(0)

    # The API reads the same store, and a plan for an on-prem L4 is priced with it.
    assert web.get("/api/v1/settings").json()["gpu_prices"] == {"L4": 0.4}
    plan = web.post(
        "/api/v1/plan", json={"model": "qwen2.5-1.5b", "gpu": "L4", "cloud": "onprem"}
    ).json()["plan"]
    gpus = plan["gpu_count"] * plan["replicas"] + plan["cost"]["idle_gpus"]
    assert plan["cost"]["usd_per_hour_total"] == pytest.approx(0.4 * gpus)
    gpu = next(d for d in plan["decisions"] if d["topic"] == "gpu")
    assert "settings" in gpu["choice"] + gpu["reason"]


def test_bad_prices_are_refused_by_field_and_nothing_is_stored() -> None:
    web = _client()
    shown = web.get("/settings")
    refused = web.post(
        "/settings/gpu-prices",
        data={"price-L4": "cheap", "price-H100-80GB-SXM": "-2", **forms.csrf(shown.text)},
    )
    assert refused.status_code == 422
    assert 'id="price-L4-error"' in refused.text
    assert 'id="price-H100-80GB-SXM-error"' in refused.text
    assert web.get("/api/v1/settings").json()["gpu_prices"] == {}


def test_a_form_post_without_the_csrf_field_is_refused() -> None:
    web = _client()
    refused = web.post("/settings/gpu-prices", data={"price-L4": "0.4"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf"
    # A browser asking for a page gets the refusal as one, saying the same.
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = web.post("/settings/gpu-prices", data={"price-L4": "0.4"}, headers=browser)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Refused</h1>" in page.text
    assert "CSRF token is missing" in page.text
    assert web.get("/api/v1/settings").json()["gpu_prices"] == {}
