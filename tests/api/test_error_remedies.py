"""API error bodies word each fix for an API client: spec fields and routes, never a CLI flag.

Against the real application in process; the Hub is offline and its cache empty (the suite's
``conftest``), so a Hugging Face id the catalog does not hold cannot be fetched: the error
the CLI answers with ``--config FILE`` must tell an API client what the API can do instead,
and carry the fix by code for a client that acts on it.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from kubefoundry.api import errors
from kubefoundry.api.app import create_app
from kubefoundry.core.errors import Remedy

CLIENT = TestClient(create_app())
FLAG = re.compile(r"(?<![\w/.`-])--[a-z]")
MODEL_CONFIG = {"code": "model_config", "fix": errors.REMEDIES[Remedy.MODEL_CONFIG]}


def test_a_hub_model_the_server_cannot_fetch_says_what_the_api_can_do() -> None:
    answered = CLIENT.post("/api/v1/plan", json={"model": "someorg/no-such-model"})
    assert answered.status_code == 400, answered.text
    body = answered.json()
    assert body["message"].startswith(
        "Offline (HF_HUB_OFFLINE=1): config.json of someorg/no-such-model is not in the local"
    )
    assert body["remedies"] == [MODEL_CONFIG]
    hint = body["hint"]
    assert hint.startswith(errors.REMEDIES[Remedy.MODEL_CONFIG])  # the API's words first
    assert "GET /api/v1/models" in hint
    assert "unset HF_HUB_OFFLINE" in hint  # then the error's own hint
    assert not FLAG.search(hint), hint
    assert "config FILE" not in answered.text


def test_a_name_that_is_no_model_is_a_404_with_close_names_and_the_remedy() -> None:
    answered = CLIENT.post("/api/v1/render", json={"model": "lama-3.1-8b"})
    assert answered.status_code == 404, answered.text
    body = answered.json()
    assert body["error"] == "not_found"
    assert "llama-3.1-8b" in body["suggestions"]
    assert body["remedies"] == [MODEL_CONFIG]
    assert not FLAG.search(body["hint"]), body["hint"]


def test_a_misfit_names_spec_fields_and_carries_no_remedy() -> None:
    answered = CLIENT.post(
        "/api/v1/plan", json={"model": "llama-3.3-70b", "gpu": "L4", "gpu_count": 1}
    )
    assert answered.status_code == 422
    body = answered.json()
    assert "Try: `gpu_count` 8 (" in body["hint"]
    assert {"gpu_count": 8} in body["fixes"]
    assert body["remedies"] == []
    assert not FLAG.search(body["hint"] + body["message"]), body


def test_the_openapi_document_describes_the_remedies() -> None:
    schemas = CLIENT.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["remedies"]["items"] == {
        "$ref": "#/components/schemas/RemedyBody"
    }
    assert set(schemas["RemedyBody"]["required"]) == {"code", "fix"}
