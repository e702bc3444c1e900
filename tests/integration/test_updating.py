"""Update, scale and settings against the sandbox's real control plane (issue 10).

Deploy through the API, then change the deployment: a dry run shows the diff and changes
nothing in the cluster (read back with the kube client); applying it changes the Deployment
and the root's plan summary; a tier change names the engine arguments it changes; a bad change
is a 422 naming the field. The token setting writes the Secret the pods read and never
answers with the token; GPU prices round-trip through the cluster's ConfigMap and price later
plans. The CLI's ``scale`` and ``update --dry-run`` go through the same use case.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from tests.support import cli, controlplane
from tests.support.rendering import CANARY

from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target
from kubefoundry.core import identity

SPEC = {
    "model": "qwen2.5-1.5b",
    "runtime": "vllm",
    "gpu": "L4",
    "replicas": 1,
    "serving": {"monitoring": "none"},
}


@pytest.fixture
def api(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def deployed(api: TestClient, namespace: str) -> str:
    created = api.post("/api/v1/deployments", json=SPEC | {"namespace": namespace})
    assert created.status_code == 201, created.text
    return str(created.json()["name"])


def _deployment(api_client: client.ApiClient, name: str, namespace: str) -> Any:
    return client.AppsV1Api(api_client).read_namespaced_deployment(name, namespace)


def _floor(api_client: client.ApiClient, name: str, namespace: str) -> int:
    """The ScaledObject's minReplicaCount: an autoscaled plan's replicas are the scaler's
    floor (the Deployment carries no replicas of ours: KEDA owns the field)."""
    scaler = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "keda.sh", "v1alpha1", namespace, "scaledobjects", name
    )
    return int(scaler["spec"]["minReplicaCount"])


def _changed(body: dict[str, Any], kind: str) -> str:
    found = [d["diff"] for d in body["diff"]["changed"] if d["kind"] == kind]
    assert found, f"no {kind} in the changed objects: {body['diff']}"
    return str(found[0])


def test_a_dry_run_shows_the_diff_and_changes_nothing_then_apply_scales(
    api: TestClient, deployed: str, namespace: str, api_client: client.ApiClient
) -> None:
    url = f"/api/v1/deployments/{namespace}/{deployed}"
    shown = api.patch(url, json={"replicas": 2})  # dry_run is the default
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["dry_run"] is True
    assert body["applied"] == []
    diff = _changed(body, "ScaledObject")
    assert "-  minReplicaCount: 1" in diff
    assert "+  minReplicaCount: 2" in diff
    ours = _changed(body, "Deployment").splitlines()  # spec.replicas is KEDA's, not ours
    assert not [line for line in ours if line.startswith(("-  replicas:", "+  replicas:"))]
    assert "resourceVersion" not in diff
    assert "managedFields" not in diff
    assert "replicas: 1 → 2" in body["changes"]
    assert body["plan_before"]["replicas"] == 1
    assert body["plan_after"]["replicas"] == 2
    assert _floor(api_client, deployed, namespace) == 1  # nothing applied

    applied = api.patch(url, params={"dry_run": "false"}, json={"replicas": 2})
    assert applied.status_code == 200, applied.text
    assert any(a.startswith("ScaledObject/") for a in applied.json()["applied"])
    assert _floor(api_client, deployed, namespace) == 2
    live = _deployment(api_client, deployed, namespace)
    summary = identity.summary_of({"metadata": {"annotations": live.metadata.annotations}})
    assert summary is not None
    assert summary.replicas == 2
    spec = identity.spec_of({"metadata": {"annotations": live.metadata.annotations}})
    assert spec is not None
    assert spec.replicas == 2
    assert spec.model == SPEC["model"]

    again = api.patch(url, json={"replicas": 2}).json()
    assert again["diff"]["changed"] == []
    assert again["changes"] == []


def test_scale_is_the_same_update(
    api: TestClient, deployed: str, namespace: str, api_client: client.ApiClient
) -> None:
    scaled = api.post(f"/api/v1/deployments/{namespace}/{deployed}/scale", json={"replicas": 3})
    assert scaled.status_code == 200, scaled.text
    assert scaled.json()["dry_run"] is False
    assert _floor(api_client, deployed, namespace) == 3
    # The workload follows at once, as `kubectl scale` would: where no scaler runs (the
    # sandbox) it would otherwise stay at the count it was created with.
    assert _deployment(api_client, deployed, namespace).spec.replicas == 3


def test_a_tier_change_names_the_engine_arguments_it_changes(
    api: TestClient, deployed: str, namespace: str
) -> None:
    shown = api.patch(f"/api/v1/deployments/{namespace}/{deployed}", json={"tier": "best"})
    assert shown.status_code == 200, shown.text
    diff = _changed(shown.json(), "Deployment")
    removed = [line for line in diff.splitlines() if line.startswith("-") and "--" in line]
    added = [line for line in diff.splitlines() if line.startswith("+") and "--" in line]
    assert removed or added, diff  # an engine flag (--performance-mode, …) differs
    assert "tier: better → best" in shown.json()["changes"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replicas": 0}, "replicas"),
        ({"context_length": 12}, "context_length"),
        ({"replica": 2}, "replica"),
        ({"name": "another"}, "name"),
        ({"workload": {"input_tokens": -5}}, "workload.input_tokens"),
    ],
)
def test_an_invalid_change_is_a_422_naming_the_field(
    api: TestClient, deployed: str, namespace: str, change: dict[str, Any], field: str
) -> None:
    refused = api.patch(f"/api/v1/deployments/{namespace}/{deployed}", json=change)
    assert refused.status_code == 422, refused.text
    assert field in [f["field"] for f in refused.json()["fields"]], refused.text


def test_an_unknown_deployment_is_a_404_with_its_namespace(api: TestClient, namespace: str) -> None:
    missing = api.patch(f"/api/v1/deployments/{namespace}/nothing-here", json={"replicas": 2})
    assert missing.status_code == 404, missing.text


def test_a_deployment_without_its_spec_says_to_deploy_it_again(
    api: TestClient, deployed: str, namespace: str, api_client: client.ApiClient
) -> None:
    patch = {"metadata": {"annotations": {identity.SPEC: None}}}
    client.AppsV1Api(api_client).patch_namespaced_deployment(deployed, namespace, patch)
    refused = api.patch(f"/api/v1/deployments/{namespace}/{deployed}", json={"replicas": 2})
    assert refused.status_code == 400, refused.text
    assert "kubefoundry deploy -f" in refused.json()["hint"]


def test_the_token_setting_writes_the_secret_and_never_answers_with_it(
    api: TestClient, namespace: str, api_client: client.ApiClient
) -> None:
    put = api.put("/api/v1/settings/hf-token", json={"token": CANARY, "namespace": namespace})
    assert put.status_code == 200, put.text
    assert put.json() == {
        "secret": "kubefoundry-hf-token",
        "namespace": namespace,
        "action": "created",
    }
    secret = client.CoreV1Api(api_client).read_namespaced_secret("kubefoundry-hf-token", namespace)
    data = secret.data or {}
    assert base64.b64decode(data["token"]).decode() == CANARY
    assert base64.b64decode(data["HF_TOKEN"]).decode() == CANARY
    again = api.put("/api/v1/settings/hf-token", json={"token": CANARY, "namespace": namespace})
    assert again.json()["action"] == "updated"
    shown = api.get("/api/v1/settings", params={"namespace": namespace})
    assert shown.status_code == 200, shown.text
    assert shown.json()["hf_token"]["exists"] is True
    assert namespace in shown.json()["hf_token"]["namespaces"]
    misspelt = api.put("/api/v1/settings/hf-token", json={"tokn": CANARY})
    assert misspelt.status_code == 422
    for response in (put, again, shown, misspelt):
        assert CANARY not in response.text


def test_gpu_prices_round_trip_and_price_later_plans(
    api: TestClient, deployed: str, namespace: str, api_client: client.ApiClient
) -> None:
    put = api.put("/api/v1/settings/gpu-prices", json={"L4": 0.5})
    assert put.status_code == 200, put.text
    assert put.json()["where"] == f"ConfigMap {namespace}/kubefoundry-settings"
    stored = client.CoreV1Api(api_client).read_namespaced_config_map(
        "kubefoundry-settings", namespace
    )
    assert "L4: 0.5" in (stored.data or {})["settings.yaml"]
    assert api.get("/api/v1/settings").json()["gpu_prices"] == {"L4": 0.5}

    planned = api.post("/api/v1/plan", json={"model": "qwen2.5-1.5b", "cloud": "onprem"})
    assert planned.status_code == 200, planned.text
    plan = planned.json()["plan"]
    gpu = next(d for d in plan["decisions"] if d["topic"] == "gpu")
    assert "in the settings" in gpu["choice"]
    assert plan["gpu"] == "L4"
    assert plan["cost"]["usd_per_hour_total"] == pytest.approx(
        0.5 * plan["gpu_count"] * plan["replicas"]
    )
    # An update of the running deployment re-plans at the stored price too.
    shown = api.patch(f"/api/v1/deployments/{namespace}/{deployed}", json={"replicas": 2}).json()
    assert shown["plan_after"]["usd_per_hour"] == pytest.approx(0.5 * 2)

    refused = api.put("/api/v1/settings/gpu-prices", json={"L5": 1.0, "H100": 0})
    assert refused.status_code == 422
    assert {f["field"] for f in refused.json()["fields"]} == {"L5", "H100"}
    assert "L4" in refused.json()["message"]  # the close name


def test_the_cli_scales_and_shows_an_update_without_applying_it(
    control_plane: controlplane.ControlPlane,
    deployed: str,
    namespace: str,
    api_client: client.ApiClient,
) -> None:
    where = ("-n", namespace, "--kubeconfig", str(control_plane.kubeconfig))
    shown = cli.kubefoundry("update", deployed, "--replicas", "2", "--dry-run", *where)
    assert shown.returncode == 0, shown.stderr
    assert "replicas: 1 → 2" in shown.stdout
    assert "+  minReplicaCount: 2" in shown.stdout
    assert _floor(api_client, deployed, namespace) == 1

    unasked = cli.kubefoundry("update", deployed, "--replicas", "2", *where)
    assert unasked.returncode == 2
    assert "--yes" in unasked.stderr
    assert _floor(api_client, deployed, namespace) == 1

    scaled = cli.kubefoundry("scale", deployed, "2", *where)
    assert scaled.returncode == 0, scaled.stderr
    assert _floor(api_client, deployed, namespace) == 2

    data = cli.kubefoundry("update", deployed, "--tier", "best", "--dry-run", "-o", "json", *where)
    assert data.returncode == 0, data.stderr
    assert json.loads(data.stdout)["spec_after"]["tier"] == "best"
