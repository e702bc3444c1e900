"""The REST API's deployment routes against the sandbox's real control plane (issue 10).

Create a deployment with a ``DeploymentSpec`` body, see it listed, follow its status until
Ready (kwok runs the pods on the fake L4 nodes), delete it: the same use cases as
``kubefoundry deploy / ls / status / delete``, through ``deploy/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.support import controlplane

from kubefoundry.api.app import create_app
from kubefoundry.cluster.connecting import Target

READY_S = 120.0


@pytest.fixture
def api(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    with TestClient(app) as client:
        yield client


def test_deploy_list_follow_and_delete_through_the_api(api: TestClient, namespace: str) -> None:
    facts = api.get("/api/v1/cluster")
    assert facts.status_code == 200, facts.text
    assert {p["gpu"] for p in facts.json()["facts"]["node_pools"]} >= {"L4"}

    created = api.post(
        "/api/v1/deployments",
        json={
            "model": "qwen2.5-1.5b",
            "runtime": "vllm",
            "gpu": "L4",
            "replicas": 1,
            "namespace": namespace,
            "serving": {"monitoring": "none"},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    name = body["name"]
    assert body["namespace"] == namespace
    assert any(a.startswith("Deployment/") for a in body["applied"])

    listed = api.get("/api/v1/deployments", params={"namespace": namespace}).json()
    assert [d["name"] for d in listed["deployments"]] == [name]
    assert listed["deployments"][0]["gpu"] == "1xL4"

    deadline = time.monotonic() + READY_S
    status = api.get(f"/api/v1/deployments/{namespace}/{name}").json()
    while status["phase"] != "ready":
        assert status["phase"] != "failed", status
        assert time.monotonic() < deadline, f"not ready after {READY_S:.0f}s: {status}"
        time.sleep(1)
        status = api.get(f"/api/v1/deployments/{namespace}/{name}").json()
    assert status["ready"] == status["wanted"] == 1

    deleted = api.delete(f"/api/v1/deployments/{namespace}/{name}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["deleted"]
    assert "model cache" in deleted.json()["kept"]
    gone = api.get(f"/api/v1/deployments/{namespace}/{name}")
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"


def test_a_spec_the_cluster_cannot_serve_is_refused_before_anything_is_applied(
    api: TestClient, namespace: str
) -> None:
    """The sandbox has no H200 pool: planned against its facts, a pinned H200 does not plan."""
    refused = api.post(
        "/api/v1/deployments",
        json={"model": "qwen2.5-1.5b", "gpu": "H200", "namespace": namespace},
    )
    assert 400 <= refused.status_code < 500, refused.text
    listed = api.get("/api/v1/deployments", params={"namespace": namespace}).json()
    assert listed["deployments"] == []
