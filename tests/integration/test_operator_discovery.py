"""Discovery against the sandbox's real API server: an operator counts as installed only where
its controller is seen running (a held Lease, a ready webhook endpoint, an accepted
GatewayClass); CRDs alone are "CRDs only", said with what to install; a re-deploy's own GPUs
count as free for it.

The sandbox has every runtime's CRDs and no Dynamo controller; where a controller's
sign is needed it is made by ``tests.support.operator_fakes`` (named as fakes), or written
here as a plain object the test owns (a Service and its EndpointSlice, a stale Lease).
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kubernetes import client
from tests.support import controlplane, operator_fakes

from kubefoundry.api.app import create_app
from kubefoundry.catalog import models
from kubefoundry.cluster import connecting
from kubefoundry.cluster.connecting import Target
from kubefoundry.core import identity
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import deploying, discovering, rendering
from kubefoundry.runtimes import base, registry

OPERATORS = {o.key: o for o in registry.default().operators()}


def _state(conn: connecting.Connection, key: str) -> tuple[str, str]:
    facts, refused = discovering.discover(conn)
    assert refused == []
    status = facts.operators[key]
    assert (key in facts.installed_runtimes) == (status.state == "running")
    return status.state, status.evidence


def test_crds_without_a_controller_are_crds_only_and_say_what_to_install(
    conn: connecting.Connection,
) -> None:
    facts, _ = discovering.discover(conn)
    for key in ("dynamo", "gateway-api-inference-extension"):
        status = facts.operators[key]
        controller = OPERATORS[key].controller
        assert controller is not None
        assert status.state == "crds-only", (key, status)
        assert status.evidence.startswith(f"{controller.name} is not running: no ")
        assert status.fix == controller.install
        assert key not in facts.installed_runtimes
    # InferenceObjective is read by the endpoint picker llm-d renders: its CRD is enough.
    assert facts.operators["llm-d"].state == "running"


def test_a_held_lease_shows_the_controller_and_lets_the_runtime_be_planned(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    request = DeploymentSpec.model_validate({"model": "qwen2.5-7b", "runtime": "dynamo"})
    entry = models.ModelCatalog.load().get(request.model)
    with operator_fakes.lease(api_client, "dynamo") as name:
        state, evidence = _state(conn, "dynamo")
        assert state == "running"
        assert f"Lease {operator_fakes.NAMESPACE}/{name} held by {operator_fakes.HOLDER}" in (
            evidence
        )
        facts, _ = discovering.discover(conn)
        result = rendering.render(request, entry, options=base.Options(), facts=facts)
        assert result.plan.runtime == "dynamo"
    assert _state(conn, "dynamo")[0] == "crds-only"


def test_a_lease_a_stopped_controller_left_behind_is_not_running(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    """Dynamo's leader stopped ten minutes ago without releasing its 15 s Lease (Dynamo: no
    controller of it runs in the sandbox, while LWS's, KubeRay's, KAITO's and KServe's may)."""
    leases = client.CoordinationV1Api(api_client)
    ten_minutes_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    stamp = ten_minutes_ago.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "metadata": {"name": "dynamo.nvidia.com", "namespace": conn.namespace},
        "spec": {
            "holderIdentity": "dynamo-operator-7d9f_1",
            "leaseDurationSeconds": 15,
            "acquireTime": stamp,
            "renewTime": stamp,
        },
    }
    leases.create_namespaced_lease(conn.namespace, body)
    state, evidence = _state(conn, "dynamo")
    assert state == "crds-only"
    held = "dynamo.nvidia.com held by dynamo-operator-7d9f_1"
    assert f"Lease {conn.namespace}/{held} expired" in evidence
    assert "last renewed 10 min ago" in evidence


def _endpoint_slice(namespace: str, service: str, *, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-x",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.9"], "conditions": {"ready": ready}}],
        "ports": [{"name": "https", "port": 9443, "protocol": "TCP"}],
    }


def test_a_ready_webhook_endpoint_shows_the_controller(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    """KServe's webhook Service with one ready endpoint; then the endpoint not ready. Read for
    KServe's controller with its webhook as the only sign looked for (KServe's real manager
    may run in this sandbox, and its stand-in pod would be seen first)."""
    kserve = OPERATORS["kserve"]
    assert kserve.controller is not None
    webhook_only = registry.Registry(
        [],
        addons=[
            dataclasses.replace(
                kserve, controller=dataclasses.replace(kserve.controller, leases=(), pods=())
            )
        ],
    )

    def state() -> tuple[str, str]:
        facts, refused = discovering.discover(conn, runtimes=webhook_only)
        assert refused == []
        return facts.operators["kserve"].state, facts.operators["kserve"].evidence

    service = "kserve-webhook-server-service"
    slices = client.DiscoveryV1Api(api_client)
    client.CoreV1Api(api_client).create_namespaced_service(
        conn.namespace, {"metadata": {"name": service}, "spec": {"ports": [{"port": 443}]}}
    )
    slices.create_namespaced_endpoint_slice(
        conn.namespace, _endpoint_slice(conn.namespace, service, ready=True)
    )
    assert state() == (
        "running",
        f"webhook Service {conn.namespace}/{service} has a ready endpoint",
    )
    slices.replace_namespaced_endpoint_slice(
        f"{service}-x",
        conn.namespace,
        _endpoint_slice(conn.namespace, service, ready=False),
    )
    assert state()[0] == "crds-only"


def test_an_accepted_inference_gateway_class_lets_llmd_be_planned(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    key = "gateway-api-inference-extension"
    with operator_fakes.accepted_gateway_class(api_client) as name:
        state, evidence = _state(conn, key)
        assert state == "running"
        assert evidence == f"GatewayClass {name} accepted by kgateway.dev/kgateway"
    assert _state(conn, key)[0] == "crds-only"


def test_a_redeploy_counts_its_own_gpus_as_free(conn: connecting.Connection) -> None:
    """Two one-L4 replicas deployed; for a re-deploy of the same deployment the L4 pool has
    two more free GPUs than for anyone else (the GPUs its pods hold, counted from them)."""
    request = DeploymentSpec.model_validate(
        {"model": "qwen2.5-0.5b", "runtime": "vllm", "gpu": "L4", "replicas": 2}
    )
    entry = models.ModelCatalog.load().get(request.model)
    facts, _ = discovering.discover(conn)
    done = deploying.deploy(
        request, entry, conn=conn, options=base.Options(monitoring="none"), facts=facts, token=None
    )
    name = done.result.plan.name
    core = client.CoreV1Api(conn.api)
    selector = identity.deployment_selector(name)
    deadline = time.monotonic() + 90
    while True:
        pods = core.list_namespaced_pod(conn.namespace, label_selector=selector).items
        placed = [p for p in pods if p.spec.node_name]
        if len(placed) == 2:
            break
        assert time.monotonic() < deadline, "the two replicas were not scheduled in 90s"
        time.sleep(0.5)
    held = sum(int(p.spec.containers[0].resources.limits["nvidia.com/gpu"]) for p in placed)
    anyone, _ = discovering.discover(conn)
    itself, _ = discovering.discover(conn, own=deploying.own(request, entry, conn.namespace))
    l4 = {p.name: p for p in anyone.gpu_pools()}["l4"]
    again = {p.name: p for p in itself.gpu_pools()}["l4"]
    assert held == 2
    assert l4.free_gpus is not None
    assert again.free_gpus is not None
    assert again.free_gpus == l4.free_gpus + held


def test_the_cluster_page_and_api_show_each_operators_state(
    control_plane: controlplane.ControlPlane, namespace: str, api_client: client.ApiClient
) -> None:
    app = create_app(cluster=Target(kubeconfig=control_plane.kubeconfig, namespace=namespace))
    with TestClient(app) as web, operator_fakes.lease(api_client, "dynamo"):
        page = web.get("/cluster")
        assert page.status_code == 200, page.text
        text = html.unescape(page.text)
        gie = re.search(
            r'<th scope="row">gateway-api-inference-extension</th>(.*?)</tr>', text, re.S
        )
        assert gie is not None
        assert "CRDs only: no controller acting" in gie.group(1)
        assert "To fix: " in gie.group(1)
        dynamo = re.search(r'<th scope="row">dynamo</th>(.*?)</tr>', text, re.S)
        assert dynamo is not None
        assert "<td>running</td>" in dynamo.group(1)
        facts = web.get("/api/v1/cluster").json()["facts"]
        assert facts["operators"]["dynamo"]["state"] == "running"
        assert facts["operators"]["gateway-api-inference-extension"]["state"] == "crds-only"


def test_kaito_is_planned_only_onto_pools_with_the_gpu_labels_it_reads(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    """The sandbox's L4 pool runs the GPU operator (GPU feature discovery's labels), its GKE
    H100 pool does not: KAITO on existing nodes is refused there, with the reason."""
    nodes = client.CoreV1Api(api_client).list_node().items
    h100 = [
        n.metadata.labels
        for n in nodes
        if n.metadata.labels.get("cloud.google.com/gke-accelerator")
    ]
    assert h100
    assert all("nvidia.com/gpu.product" not in labels for labels in h100)
    with operator_fakes.lease(api_client, "kaito"):
        facts, _ = discovering.discover(conn)
        entry = models.ModelCatalog.load().get("qwen2.5-7b")
        for gpu, refused in (("H100", True), ("L4", False)):
            request = DeploymentSpec.model_validate(
                {"model": "qwen2.5-7b", "runtime": "kaito", "gpu": gpu}
            )
            if refused:
                with pytest.raises(InvalidInputError) as err:
                    rendering.render(request, entry, options=base.Options(), facts=facts)
                assert "kaito: node pool h100's nodes lack nvidia.com/gpu.product" in str(
                    err.value.message
                )
            else:
                result = rendering.render(request, entry, options=base.Options(), facts=facts)
                assert result.plan.runtime == "kaito"
