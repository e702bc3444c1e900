"""``kubefoundry logs`` and ``GET /api/v1/deployments/{ns}/{name}/logs`` against the sandbox's
real API server, both through ``deploy/logs``: every pod of a deployment, the engine's
container of pods with two (no container named), one wording for a pod whose log cannot be
read (kwok's nodes have no kubelet: the API server answers 500), and an unknown pod named
with the deployment's pods."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client, dynamic
from tests.integration.test_cli_cluster import kf
from tests.integration.test_watching import _frames, deployments, eventually, root
from tests.support import controlplane

from kubefoundry.api.app import create_app
from kubefoundry.cluster import connecting

PROXY = {"name": "queue-proxy", "image": "gcr.io/knative-releases/queue:v1"}  # injected after


@pytest.fixture
def pods(dynamic_client: dynamic.DynamicClient, namespace: str) -> list[str]:
    """Deployment chat's two running kwok pods, each with the engine and a sidecar."""
    body = root("chat", namespace, replicas=2)
    template = body["spec"]["template"]["spec"]
    del template["nodeSelector"]
    template["tolerations"] = [{"operator": "Exists"}]
    template["containers"].append(PROXY)
    deployments(dynamic_client).create(body=body, namespace=namespace)
    core = client.CoreV1Api(dynamic_client.client)

    def running() -> list[str]:
        found: list[Any] = core.list_namespaced_pod(namespace).items
        up = len(found) == 2 and all(p.status.phase == "Running" for p in found)
        return sorted(str(p.metadata.name) for p in found) if up else []

    names: list[str] = eventually(running, timeout_s=60.0, what="kwok to run both pods")
    return names


@pytest.fixture
def api(control_plane: controlplane.ControlPlane, namespace: str) -> Iterator[TestClient]:
    app = create_app(
        cluster=connecting.Target(kubeconfig=control_plane.kubeconfig, namespace=namespace)
    )
    with TestClient(app) as test_client:
        yield test_client


def test_the_api_reads_the_engine_container_of_every_pod(
    api: TestClient, pods: list[str], namespace: str
) -> None:
    url = f"/api/v1/deployments/{namespace}/chat/logs"
    body: dict[str, Any] = eventually(
        lambda: len(api.get(url).json().get("pods", {})) == 2 and api.get(url).json(),
        what="both pods in the cache",
    )
    assert sorted(body["pods"]) == pods
    for pod in pods:
        assert body["pods"][pod] == []
        # The engine's container was asked for: the node, not a missing container name.
        assert body["problems"][pod].startswith(f"No logs from pod {pod}: ")
        assert "kwok" in body["problems"][pod]
        assert "container name must be specified" not in body["problems"][pod]

    named = api.get(url, params={"container": "nope", "pod": pods[0]}).json()
    assert list(named["pods"]) == [pods[0]]
    assert "nope" in named["problems"][pods[0]]

    missing = api.get(url, params={"pod": "chat-nope"})
    assert missing.status_code == 404
    said = missing.json()
    assert said["error"] == "not_found"
    assert "Unknown pod 'chat-nope'" in said["message"]
    assert f"these pods: {', '.join(pods)}." in said["hint"]

    with api.stream("GET", url, params={"follow": "true"}) as stream:
        frames = list(_frames(stream.iter_lines()))
    assert sorted(body["pod"] for name, body in frames if name == "problem") == pods
    assert frames[-1] == ("end", {"pods": pods})


def test_the_cli_reads_every_pod_and_names_those_without_logs(
    control_plane: controlplane.ControlPlane, pods: list[str], namespace: str
) -> None:
    code, out, err = kf(control_plane, "logs", "chat", "-n", namespace)
    assert code == 0, err
    assert out.splitlines() == [f"==> {pod} <==" for pod in pods]
    warned = " ".join(err.split())
    for pod in pods:
        assert f"warning: No logs from pod {pod}: " in warned
    assert "kwok" in warned
    assert "container name must be specified" not in warned

    code, out, err = kf(control_plane, "logs", "chat", "-n", namespace, "--pod", pods[1], "-f")
    assert code == 2, err  # nothing could be followed
    assert out == ""
    assert f"No logs from pod {pods[1]}: " in " ".join(err.split())
    assert pods[0] not in err

    code, _, err = kf(control_plane, "logs", "chat", "-n", namespace, "--pod", "chat-nope")
    assert code == 2, err
    said = " ".join(err.split())
    assert "Unknown pod 'chat-nope'" in said
    assert f"these pods: {', '.join(pods)}." in said
    assert "Traceback" not in err
