"""The runtimes' real operators judge what we render (issue 11): the KubeRay operator
(ray-operator v1.6.2), KAITO's workspace controller (v0.11.0) and KServe's controller manager
(v0.20.0, Standard mode, its webhooks registered) run against the sandbox's API server, built
from their Go modules like the control plane. Nothing here writes an operator's status: what
the objects say, their operator wrote.

- KubeRay: our RayService becomes the operator's RayCluster, whose head pod and GPU worker
  pods run (kwok) on the planned L4 nodes. The RayService stays not Ready: the operator asks
  the Ray dashboard on the head pod whether the Serve application runs, and nothing answers
  at a kwok pod's address. The status says so, in the operator's words, and counts the
  workers as replicas, not the head.
- KAITO: our Workspace becomes KAITO's inference workload, whose pods carry only KAITO's
  labels; they are found, counted and run on the L4 nodes KAITO's bring-your-own mode
  picked (GPU feature discovery's labels). The model is one of KAITO's catalog (it asks the
  Hugging Face Hub about any other, and the sandbox reaches no network).
- KServe: our InferenceService and ServingRuntime become KServe's predictor Deployment, whose
  container is our runtime's image and command with the plan's engine flags, on the planned
  L4 nodes; KServe's verdict is the status. What it showed: it copies every annotation of
  the InferenceService, our root marker among them, onto its Deployment (``ls`` listed the
  deployment twice), writes an Ingress of its own for an InferenceService without the
  cluster-local label, and hands KEDA only the scale-down window of our behavior.

Delete leaves nothing but the model cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from tests.support import operator_fakes
from tests.support.deploys import deploy, eventually, gateway, pods_on_matching_gpu_nodes

from kubefoundry.cluster import connecting, inspecting
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.deploy import deploying, phases

GPU = "nvidia.com/gpu"
SETTLE_S = 120.0  # earlier tests' pods may still be giving their L4s back


def _custom(
    conn: connecting.Connection, group: str, plural: str, namespace: str, version: str = "v1"
) -> list[Any]:
    api = client.CustomObjectsApi(conn.api)
    return list(api.list_namespaced_custom_object(group, version, namespace, plural)["items"])


def _all_running(conn: connecting.Connection, name: str, namespace: str, count: int) -> bool:
    pods = inspecting.pods(conn, name=name, namespace=namespace)
    return len(pods) == count and all(p["status"].get("phase") == "Running" for p in pods)


def _made(listed: Callable[[], list[Any]], name: str) -> Any:
    """The object ``name`` among what ``listed`` returns, once an operator has made it."""

    def found() -> Any:
        return next((o for o in listed() if o.metadata.name == name), None)

    eventually(lambda: found() is not None, timeout_s=SETTLE_S, what=f"the operator's {name}")
    return found()


def _made_deployment(conn: connecting.Connection, namespace: str, name: str) -> Any:
    """The Deployment ``name`` an operator makes, once it exists."""
    apps = client.AppsV1Api(conn.api)
    return _made(lambda: apps.list_namespaced_deployment(namespace).items, name)


def _only_the_cache_left(conn: connecting.Connection, done: deploying.Deployed) -> None:
    """Nothing of the deployment is left but the model cache, where it rendered one (KAITO
    downloads the model itself and has none)."""
    namespace = done.namespace
    core = client.CoreV1Api(conn.api)

    def nothing_left() -> bool:
        return not (
            core.list_namespaced_pod(namespace).items
            or client.AppsV1Api(conn.api).list_namespaced_stateful_set(namespace).items
            or client.AppsV1Api(conn.api).list_namespaced_deployment(namespace).items
        )

    eventually(nothing_left, timeout_s=SETTLE_S, what="every pod and workload gone")
    caches = core.list_namespaced_persistent_volume_claim(namespace).items
    rendered = [a for a in done.applied if a.kind == "PersistentVolumeClaim"]
    assert len(caches) == len(rendered)
    assert all(c.metadata.labels["app.kubernetes.io/component"] == "model-cache" for c in caches)


@pytest.mark.operator("kuberay")
def test_the_kuberay_operator_runs_our_rayservice_and_its_verdict_is_the_status(
    conn: connecting.Connection, namespace: str
) -> None:
    done = deploy(conn, model="qwen2.5-7b", runtime="kuberay", gpu="L4", replicas=1)
    plan, name = done.result.plan, done.result.plan.name
    workers = plan.replicas * plan.nodes_per_replica

    # The operator's RayCluster, owned by our RayService (the operator made it, not us).
    eventually(
        lambda: bool(_custom(conn, "ray.io", "rayclusters", namespace)),
        timeout_s=SETTLE_S,
        what="the operator's RayCluster",
    )
    (cluster,) = _custom(conn, "ray.io", "rayclusters", namespace)
    (owner,) = cluster["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("RayService", name)
    assert cluster["metadata"]["name"] not in {a.name for a in done.applied}

    # Its head and GPU workers run; the workers on the planned L4 nodes, one GPU pod each.
    eventually(
        lambda: _all_running(conn, name, namespace, 1 + workers),
        timeout_s=SETTLE_S,
        what=f"the head and {workers} worker pods Running",
    )
    assert len(pods_on_matching_gpu_nodes(conn, done)) == workers

    # Ready is the RayService's verdict: not ready, and the status says so in its words,
    # counting workers (the head is no replica: "2/1 ready" was).
    def told() -> bool:
        return "it says" in deploying.status(conn, name=name, namespace=namespace).message

    eventually(told, timeout_s=SETTLE_S, what="the RayService's own words in the status")
    now = deploying.status(conn, name=name, namespace=namespace)
    assert now.phase is phases.Phase.LOADING, now
    assert (now.ready, now.wanted) == (workers, plan.replicas)
    service = client.CustomObjectsApi(conn.api).get_namespaced_custom_object(
        "ray.io", "v1", namespace, "rayservices", name
    )
    ready = next(c for c in service["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert f"Ready=False ({ready['reason']})" in now.message, now.message

    deleted = deploying.delete(conn, name=name, namespace=namespace)
    assert f"RayService/{name}" in deleted
    eventually(
        lambda: not _custom(conn, "ray.io", "rayclusters", namespace),
        timeout_s=SETTLE_S,
        what="the RayCluster garbage-collected",
    )
    _only_the_cache_left(conn, done)


@pytest.mark.operator("kaito")
def test_kaitos_controller_runs_our_workspace_and_its_pods_are_found_by_its_labels(
    conn: connecting.Connection, namespace: str
) -> None:
    done = deploy(conn, model="phi-3-mini", runtime="kaito", gpu="L4", replicas=1)
    plan, name = done.result.plan, done.result.plan.name
    (root,) = [a for a in done.applied if a.kind in ("Workspace", "InferenceSet")]
    # KAITO's workload (made by its controller: we render none) and its pods, which carry
    # only KAITO's labels, found as this deployment's.
    eventually(
        lambda: _all_running(conn, name, namespace, plan.replicas * plan.nodes_per_replica),
        timeout_s=SETTLE_S,
        what="KAITO's inference pods Running",
    )
    pods = inspecting.pods(conn, name=name, namespace=namespace)
    key = {"Workspace": "kaito.sh/workspace", "InferenceSet": "inferenceset.kaito.sh/created-by"}
    assert all(p["metadata"]["labels"].get(key[root.kind]) == name for p in pods)
    assert not any("kubefoundry.io/deployment" in p["metadata"]["labels"] for p in pods)
    assert len(pods_on_matching_gpu_nodes(conn, done)) == plan.replicas * plan.nodes_per_replica

    # Ready is KAITO's verdict on our root, whichever it is; the pods are progress.
    found = inspecting.root(conn, deploying.ROOT_KINDS, name=name, namespace=namespace)
    assert found is not None
    now = deploying.status(conn, name=name, namespace=namespace)
    assert (now.ready, now.wanted) == (plan.replicas, plan.replicas), now
    assert (now.phase is phases.Phase.READY) == bool(phases.root_ready(found)), (now, found)

    deploying.delete(conn, name=name, namespace=namespace)
    _only_the_cache_left(conn, done)


@pytest.mark.operator("kserve")
def test_kserve_runs_our_inferenceservice_and_its_verdict_is_the_status(
    conn: connecting.Connection, namespace: str
) -> None:
    done = deploy(conn, model="qwen2.5-7b", runtime="kserve", gpu="L4", replicas=1)
    plan, name = done.result.plan, done.result.plan.name
    # KServe's Deployment for the predictor, owned by our InferenceService (KServe made it).
    made = _made_deployment(conn, namespace, f"{name}-predictor")
    (owner,) = made.metadata.owner_references
    assert (owner.kind, owner.name) == ("InferenceService", name)
    assert made.metadata.name not in {a.name for a in done.applied}
    # Our ServingRuntime's image and command, with the plan's engine flags KServe appended.
    rendered = {m["kind"]: m for m in done.result.rendered.manifests}
    (ours,) = rendered["ServingRuntime"]["spec"]["containers"]
    model = rendered["InferenceService"]["spec"]["predictor"]["model"]
    (container,) = made.spec.template.spec.containers
    assert (container.image, container.command) == (ours["image"], ours["command"])
    assert container.args == model["args"]
    assert container.resources.limits["nvidia.com/gpu"] == model["resources"]["limits"][GPU]

    eventually(
        lambda: _all_running(conn, name, namespace, plan.replicas),
        timeout_s=SETTLE_S,
        what="the predictor pods Running",
    )
    assert len(pods_on_matching_gpu_nodes(conn, done)) == plan.replicas

    # Ready is KServe's verdict on the InferenceService, and then ours.
    def ready() -> bool:
        return deploying.status(conn, name=name, namespace=namespace).phase is phases.Phase.READY

    eventually(ready, timeout_s=SETTLE_S, what="the InferenceService Ready")
    found = inspecting.root(conn, deploying.ROOT_KINDS, name=name, namespace=namespace)
    assert found is not None
    assert phases.root_ready(found), found

    # KServe copies our annotations, the root's among them, onto its Deployment: it is still
    # one deployment (`ls` listed two).
    roots = inspecting.roots(conn, deploying.ROOT_KINDS, namespace=namespace)
    assert [(r["kind"], r["metadata"]["name"]) for r in roots] == [("InferenceService", name)]
    # No exposure asked: KServe writes no Ingress of its own.
    assert not client.NetworkingV1Api(conn.api).list_namespaced_ingress(namespace).items

    deploying.delete(conn, name=name, namespace=namespace)
    _only_the_cache_left(conn, done)


@pytest.mark.operator("llmisvc")  # alone: the mode needs only its own controller
def test_kserves_llm_controller_runs_our_llminferenceservice_behind_its_gateway(
    conn: connecting.Connection, namespace: str, api_client: client.ApiClient
) -> None:
    """KServe v0.20's LLMInferenceService controller, its presets installed as its chart does.
    Without the Gateway its managed route attaches to (KServe's default), the deploy is
    refused before anything is applied: KServe would mark the service RefsInvalid and make no
    endpoint picker (it did, before the check). With one, KServe makes the vLLM Deployment
    from our template on the L4 nodes, the endpoint picker, the InferencePool and the
    HTTPRoute on that Gateway; no Gateway controller programs the Gateway here, so the
    service stays not Ready, and the status says so in KServe's words."""
    llm = {"llm_inference_service": True}
    fields: dict[str, Any] = {"model": "qwen2.5-7b", "runtime": "kserve", "gpu": "L4"}
    with pytest.raises(InvalidInputError, match="kserve/kserve-ingress-gateway"):
        deploy(conn, **fields, replicas=1, serving=llm)
    assert not _custom(conn, "serving.kserve.io", "llminferenceservices", namespace, "v1alpha2")

    with (
        operator_fakes.accepted_gateway_class(api_client),  # FAKE: a Gateway implementation
        # As KServe's install makes it: routes from every namespace.
        gateway(api_client, namespace="kserve", name="kserve-ingress-gateway", routes_from="All"),
    ):
        done = deploy(conn, **fields, replicas=1, serving=llm)
        plan, name = done.result.plan, done.result.plan.name
        vllm = _made_deployment(conn, namespace, f"{name}-kserve")
        (ours,) = done.result.rendered.manifests[0]["spec"]["template"]["containers"]
        made = {c.name: c for c in vllm.spec.template.spec.containers}["main"]
        env = {e.name: e.value for e in made.env or []}
        wanted = {e["name"]: e["value"] for e in ours["env"]}
        assert env["VLLM_ADDITIONAL_ARGS"] == wanted["VLLM_ADDITIONAL_ARGS"]
        assert made.resources.limits[GPU] == ours["resources"]["limits"][GPU]
        eventually(
            lambda: _all_running(conn, name, namespace, plan.replicas),
            timeout_s=SETTLE_S,
            what="the vLLM pods Running",
        )
        assert len(pods_on_matching_gpu_nodes(conn, done)) == plan.replicas

        # The endpoint picker, InferencePool and HTTPRoute: KServe's, on the Gateway.
        _made_deployment(conn, namespace, f"{name}-kserve-router-scheduler")
        (pool,) = _custom(conn, "inference.networking.k8s.io", "inferencepools", namespace, "v1")
        assert pool["metadata"]["ownerReferences"][0]["name"] == name
        (route,) = _custom(conn, "gateway.networking.k8s.io", "httproutes", namespace, "v1")
        (parent,) = route["spec"]["parentRefs"]
        assert (parent["namespace"], parent["name"]) == ("kserve", "kserve-ingress-gateway")

        def told() -> bool:
            return "it says" in deploying.status(conn, name=name, namespace=namespace).message

        eventually(told, timeout_s=SETTLE_S, what="KServe's own words in the status")
        now = deploying.status(conn, name=name, namespace=namespace)
        assert now.phase is not phases.Phase.READY, now
        assert (now.ready, now.wanted) == (plan.replicas, plan.replicas), now

        deploying.delete(conn, name=name, namespace=namespace)
        _only_the_cache_left(conn, done)


@pytest.mark.operator("keda")
def test_kedas_operator_turns_our_scaled_object_into_an_hpa_on_our_deployment(
    conn: connecting.Connection, namespace: str
) -> None:
    """KEDA v2.21's operator reads the ScaledObject we render for an autoscaled vLLM
    Deployment and makes its HorizontalPodAutoscaler: on our Deployment, with the plan's
    bounds, an external metric per replica at the plan's target, and the scale-down window.
    (``test_autoscaling`` shows that HPA acting on the metric KEDA's adapter feeds it.)"""
    done = deploy(conn, model="qwen2.5-7b", runtime="vllm", gpu="L4", replicas=1)
    plan, name = done.result.plan, done.result.plan.name
    s = plan.autoscaling
    assert s.max_replicas > s.min_replicas, s  # an autoscaled plan
    (scaled,) = _custom(conn, "keda.sh", "scaledobjects", namespace, "v1alpha1")
    hpas = client.AutoscalingV2Api(conn.api)

    hpa = _made(
        lambda: hpas.list_namespaced_horizontal_pod_autoscaler(namespace).items,
        f"keda-hpa-{scaled['metadata']['name']}",
    )
    target = hpa.spec.scale_target_ref
    assert (target.kind, target.name) == ("Deployment", name)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (s.min_replicas, s.max_replicas)
    (metric,) = hpa.spec.metrics
    assert metric.type == "External"
    assert float(metric.external.target.average_value) == s.target
    assert hpa.spec.behavior.scale_down.stabilization_window_seconds == s.cooldown_s
    owner = hpa.metadata.owner_references[0]
    assert (owner.kind, owner.name) == ("ScaledObject", scaled["metadata"]["name"])

    deploying.delete(conn, name=name, namespace=namespace)
    eventually(
        lambda: not hpas.list_namespaced_horizontal_pod_autoscaler(namespace).items,
        timeout_s=SETTLE_S,
        what="the HPA garbage-collected with its ScaledObject",
    )
    _only_the_cache_left(conn, done)
