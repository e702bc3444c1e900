"""The REST API (issue 10, first part): catalog, plan, render, errors, auth, fuzzing.

Against the real FastAPI application (in process, through Starlette's test client) and, for
binding and the bearer token, the real ``kubefoundry serve`` process on a local port. The
plans it answers are checked against the planner called directly with the same spec.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from tests.support.rendering import CANARY

from kubefoundry.api.app import create_app
from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import planner

APP = create_app()
CLIENT = TestClient(APP)


def test_the_catalog_lists_and_filters_models() -> None:
    every = CLIENT.get("/api/v1/models").json()
    assert len(every) == len(models.ModelCatalog.load().all())
    small = CLIENT.get("/api/v1/models", params={"max_params_b": 9}).json()
    assert small
    assert all(r["params_b"] <= 9 for r in small)
    assert len(small) < len(every)
    llama = CLIENT.get("/api/v1/models", params={"q": "llama-3.1"}).json()
    assert {r["id"] for r in llama} >= {"meta-llama/Llama-3.1-8B-Instruct"}
    gated = CLIENT.get("/api/v1/models", params={"gated": "true"}).json()
    assert gated
    assert all(r["gated"] for r in gated)


def test_a_model_by_alias_and_an_unknown_one_with_close_names() -> None:
    got = CLIENT.get("/api/v1/models/llama-3.1-8b")
    assert got.status_code == 200
    assert got.json()["id"] == "meta-llama/Llama-3.1-8B-Instruct"
    by_id = CLIENT.get("/api/v1/models/meta-llama/Llama-3.1-8B-Instruct")
    assert by_id.status_code == 200
    missing = CLIENT.get("/api/v1/models/lama-3.1-8b")
    assert missing.status_code == 404
    body = missing.json()
    assert body["error"] == "not_found"
    assert "llama-3.1-8b" in body["suggestions"]


def test_gpus_tiers_and_workloads() -> None:
    names = {g["id"] for g in CLIENT.get("/api/v1/gpus").json()}
    assert {"L4", "H100-80GB-SXM"} <= names
    tiers = CLIENT.get("/api/v1/tiers").json()
    assert [t["objective"] for t in tiers] == ["cost", "balanced", "latency"]
    profiles = {p["name"] for p in CLIENT.get("/api/v1/workloads").json()}
    assert {"chat", "rag", "code", "batch"} <= profiles


def test_a_plan_is_the_planners_for_the_same_spec() -> None:
    body = {"model": "llama-3.1-8b", "cloud": "aws", "workload": {"requests_per_s": 5}}
    answered = CLIENT.post("/api/v1/plan", json=body)
    assert answered.status_code == 200, answered.text
    plan = answered.json()["plan"]
    spec = DeploymentSpec.model_validate(body)
    direct = planner.plan(
        spec,
        models.ModelCatalog.load().get(spec.model),
        gpus=gpus.load(),
        instances=instances.load(),
    )
    assert (plan["gpu"], plan["gpu_count"], plan["replicas"]) == (
        direct.gpu,
        direct.gpu_count,
        direct.replicas,
    )
    assert plan["cost"]["usd_per_hour_total"] == direct.cost.usd_per_hour_total
    assert plan["runtime"] == "vllm"  # the runtime decision rides along, as the CLI's does


def test_render_returns_the_objects_their_reasons_and_findings() -> None:
    answered = CLIENT.post(
        "/api/v1/render",
        json={"model": "qwen3-8b", "serving": {"exposure": "httproute", "host": "x.example"}},
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    kinds = {m["kind"] for m in body["manifests"]}
    assert {"Deployment", "Service", "HTTPRoute"} <= kinds
    assert any(d["topic"] == "runtime" for d in body["decisions"])
    assert all(f["severity"] != "error" for f in body["findings"])


def test_a_bad_field_is_a_422_naming_the_field_and_the_value() -> None:
    answered = CLIENT.post(
        "/api/v1/plan",
        json={"model": "llama-3.1-8b", "tier": "gold", "workload": {"input_tokens": 0}},
    )
    assert answered.status_code == 422
    fields = {f["field"]: f["value"] for f in answered.json()["fields"]}
    assert fields == {"tier": "gold", "workload.input_tokens": 0}


def test_an_unknown_field_is_refused_not_ignored() -> None:
    answered = CLIENT.post("/api/v1/plan", json={"model": "llama-3.1-8b", "gpus": "H100"})
    assert answered.status_code == 422
    assert [f["field"] for f in answered.json()["fields"]] == ["gpus"]


def test_a_misfit_is_a_422_with_fixes_that_plan() -> None:
    answered = CLIENT.post(
        "/api/v1/plan", json={"model": "llama-3.3-70b", "gpu": "L4", "gpu_count": 1}
    )
    assert answered.status_code == 422
    body = answered.json()
    assert body["error"] == "does_not_fit"
    assert body["fixes"]
    for fix in body["fixes"]:
        again = CLIENT.post(
            "/api/v1/plan",
            json={"model": "llama-3.3-70b", "gpu": "L4", "gpu_count": 1, **fix},
        )
        assert again.status_code == 200, (fix, again.text)


def test_the_openapi_spec_publishes_the_deployment_spec() -> None:
    spec = CLIENT.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"DeploymentSpec", "ServingSpec", "WorkloadSpec", "ErrorBody"} <= set(schemas)
    body = spec["paths"]["/api/v1/plan"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/DeploymentSpec")
    assert CLIENT.get("/api/v1/spec/schema").json()["title"] == "DeploymentSpec"


def test_the_token_never_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_TOKEN set on the server: no answer, rendered object or error carries it."""
    monkeypatch.setenv("HF_TOKEN", CANARY)
    bodies = [
        CLIENT.post("/api/v1/plan", json={"model": "llama-3.1-8b"}).text,
        CLIENT.post(
            "/api/v1/render",
            json={"model": "llama-3.1-8b", "serving": {"token": {"source": "external-secret"}}},
        ).text,
        CLIENT.post("/api/v1/render", json={"model": "llama-3.1-8b", "hf_token_secret": "x"}).text,
        CLIENT.post("/api/v1/plan", json={"model": "llama-3.1-8b", "tier": CANARY}).text,
    ]
    assert all(CANARY not in b for b in bodies[:3])
    # A value the user sent is echoed in the error that names it, and only there.
    assert json.loads(bodies[3])["fields"][0]["field"] == "tier"


def test_with_a_token_every_api_route_wants_it() -> None:
    guarded = TestClient(create_app(token="s3cret"))
    assert guarded.get("/api/v1/gpus").status_code == 401
    wrong = guarded.get("/api/v1/gpus", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "unauthorized"
    right = guarded.get("/api/v1/gpus", headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200
    assert guarded.get("/healthz").status_code == 200


# --- fuzzing from the OpenAPI spec ------------------------------------------------------

SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


@SCHEMA.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_from_the_openapi_spec_makes_a_server_error(case: schemathesis.Case) -> None:
    """Generated requests to every operation: 2xx or a 4xx that says why; never a 5xx but
    the one this server means: 503 from a deployment route when it has no cluster."""
    response = case.call()
    if response.status_code == 503:
        assert response.json()["error"] == "unavailable"
        # The catalog's "fits my cluster" filter wants a cluster too.
        fits_cluster = str((case.query or {}).get("fits_cluster")).lower() in ("true", "1")
        assert (
            "/deployments" in case.path
            or case.path.endswith(("/cluster", "/hf-token"))
            or case.path == "/api/v1/metrics"  # the cost export reads the cluster
            or (case.path == "/api/v1/models" and fits_cluster)
        )
        return
    case.validate_response(response, checks=[not_a_server_error])


# --- the real server -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str) -> None:
    """Until the server answers /healthz (10 s at most)."""
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError("kubefoundry serve did not answer within 10 s")


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubefoundry.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        yield url, proc
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # reads and closes its pipes


def test_serve_listens_on_loopback_and_answers_a_plan(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = served
    request = urllib.request.Request(
        f"{url}/api/v1/plan",
        data=json.dumps({"model": "qwen3-8b"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.loads(answer.read())["plan"]["model_id"] == "Qwen/Qwen3-8B"


def test_serve_on_another_address_makes_and_wants_a_token() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubefoundry.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "KUBEFOUNDRY_TOKEN"} | {"COLUMNS": "200"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/api/v1/gpus", timeout=5).close()
        assert refused.value.code == 401
        refused.value.close()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    (line,) = [x for x in err.splitlines() if "Bearer" in x]
    token = line.rsplit("Bearer ", 1)[1].strip()
    assert len(token) >= 32
