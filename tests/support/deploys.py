"""Deploy into the sandbox as the CLI does and follow what comes up: shared by the tests that
deploy each runtime (tests/integration)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes import client

from kubefoundry.catalog import models
from kubefoundry.cluster import connecting, inspecting
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import deploying, discovering, phases
from kubefoundry.runtimes import base

OPTIONS = base.Options(monitoring="none")


def deploy(conn: connecting.Connection, **request: Any) -> deploying.Deployed:
    """Deploy as the CLI does: planned against the facts discovered from the sandbox, with the
    spec's serving options (monitoring off: the sandbox runs no Prometheus)."""
    facts, refused = discovering.discover(conn)
    assert refused == []
    wanted = DeploymentSpec.model_validate(request)
    entry = models.ModelCatalog.load().get(wanted.model)
    options = dataclasses.replace(base.Options.from_spec(wanted), monitoring=OPTIONS.monitoring)
    return deploying.deploy(wanted, entry, conn=conn, options=options, facts=facts, token=None)


def watch(
    conn: connecting.Connection, done: deploying.Deployed, timeout_s: float
) -> phases.Progress:
    seen = list(
        deploying.watch(
            conn,
            name=done.result.plan.name,
            namespace=done.namespace,
            timeout_s=timeout_s,
            poll_s=0.5,
        )
    )
    return seen[-1]


def eventually(check: Callable[[], bool], *, timeout_s: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not after {timeout_s:.0f}s: {what}"
        time.sleep(0.5)


def pods_on_matching_gpu_nodes(conn: connecting.Connection, done: deploying.Deployed) -> list[str]:
    """The nodes the deployment's GPU pods run on; each must carry the plan's node selector
    and the GPUs the pod asks for."""
    plan = done.result.plan
    core = client.CoreV1Api(conn.api)
    found = inspecting.pods(conn, name=plan.name, namespace=done.namespace)
    placed = []
    for pod in found:
        asked = _gpus_requested(pod)
        if not asked:
            continue  # e.g. llm-d's endpoint picker: a CPU pod
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        node = core.read_node(pod["spec"]["nodeName"])
        labels = node.metadata.labels
        assert plan.node_selector.items() <= labels.items(), (node.metadata.name, labels)
        assert int(node.status.allocatable["nvidia.com/gpu"]) >= asked
        placed.append(node.metadata.name)
    assert placed, f"no GPU pods for {plan.name}"
    return placed


def _gpus_requested(pod: dict[str, Any]) -> int:
    return sum(
        int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
        for c in pod["spec"]["containers"]
    )


@contextlib.contextmanager
def gateway(
    api: client.ApiClient, *, namespace: str, name: str, routes_from: str | None = None
) -> Iterator[None]:
    """A Gateway object (of the fake GatewayClass ``kf-fake``; no controller programs it),
    for routes to attach to, deleted after the block. ``routes_from``: its listener's
    ``allowedRoutes.namespaces.from`` (unset: the API's default, Same)."""
    objects = client.CustomObjectsApi(api)
    group, version, plural = "gateway.networking.k8s.io", "v1", "gateways"
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "gatewayClassName": "kf-fake",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        },
    }
    if routes_from:
        allowed = {"namespaces": {"from": routes_from}}
        body["spec"]["listeners"][0]["allowedRoutes"] = allowed  # type: ignore[index]
    objects.create_namespaced_custom_object(group, version, namespace, plural, body)
    try:
        yield
    finally:
        objects.delete_namespaced_custom_object(group, version, namespace, plural, name)
