"""Deployments coming up for real in the sandbox: discovery finds the fake GPU pools, the
planner selects their labels, the scheduler places the pods on matching GPU nodes, kwok runs
them, the watch reports Ready; deleting the root garbage-collects everything but the model
cache, and namespaces delete.

The runtimes whose pods we render (vLLM and TGI Deployments, llm-d's Deployments, LWS through
the real LeaderWorkerSet controller) come up on their own. KubeRay, KAITO and KServe run their
real operators (``test_real_operators.py``). Dynamo's operator is not served as a Go module:
its status is written by the test, by ``fake_operator_marks_ready``, the one fake in these
tests.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from kubernetes import client
from tests.support import controlplane, operator_fakes
from tests.support.deploys import (
    deploy,
    eventually,
    gateway,
    pods_on_matching_gpu_nodes,
    watch,
)

from kubefoundry.catalog import models
from kubefoundry.cluster import connecting, inspecting
from kubefoundry.core import identity
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import deploying, discovering, phases, rendering
from kubefoundry.runtimes import base
from kubefoundry.runtimes.common import scaling

OPTIONS = base.Options(monitoring="none")
SETTLE_S = 90.0  # pods of an earlier test's namespace may still be freeing GPUs


def test_discovery_reports_the_fake_gpu_pools(
    conn: connecting.Connection, control_plane: controlplane.ControlPlane
) -> None:
    facts, refused = discovering.discover(conn)
    assert refused == []
    pools = {p.name: p for p in facts.gpu_pools()}
    assert (pools["h100"].gpu, pools["h100"].gpus_per_node, pools["h100"].nodes) == (
        "H100-80GB-SXM",
        8,
        2,
    )
    assert (pools["l4"].gpu, pools["l4"].gpus_per_node, pools["l4"].nodes) == ("L4", 1, 4)
    assert pools["h100"].instance_type == "a3-highgpu-8g"
    assert facts.cloud == "gcp"
    assert facts.provisioner == "karpenter"
    assert "standard" in facts.storage_classes
    assert {"lws", "kserve", "kuberay", "dynamo", "kaito"} <= set(facts.operators)
    # The real LWS controller runs; KServe's where the session's tests asked for it; no
    # Dynamo controller runs here.
    assert "lws" in facts.installed_runtimes
    kserve = any(p.name == "kserve-controller-manager" for p in control_plane.processes)
    assert facts.operators["kserve"].state == ("running" if kserve else "crds-only")
    assert facts.operators["dynamo"].state == "crds-only"


def test_the_fake_nodes_keep_renewing_their_leases(conn: connecting.Connection) -> None:
    """kwok renews a Lease per node as kubelets do. Without it the node lifecycle controller
    marks the nodes Unknown after its grace period, taints them unreachable and marks their
    pods not Ready: deployments would flap."""
    leases = {
        lease.metadata.name: lease.spec.renew_time
        for lease in client.CoordinationV1Api(conn.api)
        .list_namespaced_lease("kube-node-lease")
        .items
    }
    now = datetime.datetime.now(datetime.UTC)
    for node in client.CoreV1Api(conn.api).list_node().items:
        name = node.metadata.name
        assert name in leases, f"no Lease for {name}"
        assert (now - leases[name]).total_seconds() < 30, f"{name}'s Lease is stale"
        assert not [t.key for t in node.spec.taints or [] if t.key.startswith("node.kubernetes")]


def test_a_plan_against_the_discovered_facts_selects_real_node_labels(
    conn: connecting.Connection,
) -> None:
    facts, _ = discovering.discover(conn)
    nodes = client.CoreV1Api(conn.api).list_node().items
    for gpu in ("H100", "L4"):
        request = DeploymentSpec.model_validate({"model": "qwen2.5-1.5b", "gpu": gpu})
        result = rendering.render(
            request, models.ModelCatalog.load().get(request.model), options=OPTIONS, facts=facts
        )
        selector = result.plan.node_selector
        matching = [n for n in nodes if selector.items() <= (n.metadata.labels or {}).items()]
        assert matching, selector
        assert {n.metadata.annotations["kubefoundry.io/sandbox-pool"] for n in matching} == {
            "h100" if gpu == "H100" else "l4"
        }
        taints = {t.key for n in matching for t in n.spec.taints or []}
        tolerated = {t["key"] for t in result.plan.tolerations}
        assert taints <= tolerated


@pytest.mark.parametrize(
    ("request_fields", "pool"),
    [
        # Unpinned, the planner puts a 7B chat model on the cheaper L4 pool (issue 9).
        ({"model": "qwen2.5-7b", "runtime": "vllm"}, "l4"),
        ({"model": "qwen2.5-1.5b", "runtime": "tgi", "gpu": "L4"}, "l4"),
        ({"model": "qwen2.5-7b", "runtime": "llmd", "replicas": 1, "gpu": "H100"}, "h100"),
    ],
    ids=["vllm-on-l4", "tgi-on-l4", "llmd-on-h100"],
)
def test_deployment_runtimes_come_up_running_on_the_planned_gpu_nodes(
    conn: connecting.Connection,
    api_client: client.ApiClient,
    request_fields: dict[str, Any],
    pool: str,
) -> None:
    if request_fields["runtime"] == "llmd":
        # FAKE: an accepted GatewayClass, so llm-d's InferencePool counts as served; and the
        # Gateway its HTTPRoute attaches to (a deploy without one is refused).
        with (
            operator_fakes.accepted_gateway_class(api_client),
            gateway(api_client, namespace=conn.namespace, name="inference-gateway"),
        ):
            done = deploy(conn, **request_fields)
    else:
        done = deploy(conn, **request_fields)
    if request_fields["runtime"] == "llmd":
        # llm-d is ready when its InferencePool says so, which a Gateway's controller writes;
        # the sandbox runs none (issue 11), so its pods come up and it says it waits on that.
        name = done.result.plan.name

        def pods_ready() -> bool:
            now = deploying.status(conn, name=name, namespace=done.namespace)
            return now.wanted > 0 and now.ready == now.wanted

        eventually(pods_ready, timeout_s=SETTLE_S, what="the model servers ready")
        now = deploying.status(conn, name=name, namespace=done.namespace)
        assert now.phase is phases.Phase.LOADING, now
        assert f"waiting for InferencePool {name} to report ready" in now.message
    else:
        final = watch(conn, done, timeout_s=SETTLE_S)
        assert final.phase is phases.Phase.READY, final
    nodes = pods_on_matching_gpu_nodes(conn, done)
    pool_of = {
        n.metadata.name: n.metadata.annotations["kubefoundry.io/sandbox-pool"]
        for n in client.CoreV1Api(conn.api).list_node().items
    }
    assert {pool_of[n] for n in nodes} == {pool}
    assert len(nodes) == done.result.plan.replicas


def test_lws_multi_node_groups_come_up_across_gpu_nodes(conn: connecting.Connection) -> None:
    """A model split over four single-L4 nodes: the real LeaderWorkerSet controller makes
    the leader and worker StatefulSets, their pods land on four different L4 nodes."""
    done = deploy(conn, model="qwen3-14b", runtime="lws", gpu="L4", replicas=1)
    plan = done.result.plan
    assert plan.nodes_per_replica > 1
    final = watch(conn, done, timeout_s=SETTLE_S)
    assert final.phase is phases.Phase.READY, final
    nodes = pods_on_matching_gpu_nodes(conn, done)
    assert len(nodes) == len(set(nodes)) == plan.nodes_per_replica
    lws = client.CustomObjectsApi(conn.api).get_namespaced_custom_object(
        "leaderworkerset.x-k8s.io", "v1", done.namespace, "leaderworkersets", plan.name
    )
    assert lws["status"]["readyReplicas"] == 1  # written by the LWS controller, not by us
    # The controller's headless Service (the pods' DNS subdomain) beside our leader Service.
    core = client.CoreV1Api(conn.api)
    assert core.read_namespaced_service(plan.name, done.namespace).spec.cluster_ip == "None"
    assert core.read_namespaced_service(f"{plan.name}-leader", done.namespace).spec.cluster_ip


# What each operator writes on its root object once it serves (their status fields, as the
# CRDs in shared/crds define them).
_OPERATOR_STATUS: dict[str, dict[str, Any]] = {
    "DynamoGraphDeployment": {
        "state": "successful",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllComponentsReady",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    },
}


def fake_operator_marks_ready(conn: connecting.Connection, root: dict[str, Any]) -> None:
    """FAKE: write the status Dynamo's operator would write once its pods serve. Its operator
    does not run in the sandbox (it is not served as a Go module here); this is the one thing
    the tests make up."""
    group, version = root["apiVersion"].split("/")
    plural = {"DynamoGraphDeployment": "dynamographdeployments"}[root["kind"]]
    client.CustomObjectsApi(conn.api).patch_namespaced_custom_object_status(
        group,
        version,
        root["metadata"]["namespace"],
        plural,
        root["metadata"]["name"],
        {"status": _OPERATOR_STATUS[root["kind"]]},
    )


def test_a_dynamo_graph_is_ready_once_its_operator_says_so(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    with operator_fakes.lease(api_client, "dynamo"):  # FAKE: no such controller runs here
        done = deploy(conn, model="qwen2.5-7b", runtime="dynamo")
    name, namespace = done.result.plan.name, done.namespace
    waiting = watch(conn, done, timeout_s=2)
    assert waiting.phase is not phases.Phase.READY  # no operator: nothing comes up by itself
    root = inspecting.root(conn, deploying.ROOT_KINDS, name=name, namespace=namespace)
    assert root is not None
    fake_operator_marks_ready(conn, root)
    final = watch(conn, done, timeout_s=10)
    assert final.phase is phases.Phase.READY, final
    assert deploying.status(conn, name=name, namespace=namespace).phase is phases.Phase.READY


def test_dynamos_scaler_scales_the_adapter_its_operator_makes(
    conn: connecting.Connection, api_client: client.ApiClient
) -> None:
    """The ScaledObject applied for an autoscaled Dynamo graph scales a
    DynamoGraphDeploymentScalingAdapter, which only Dynamo's operator makes, and only for a
    component the graph opts in. SIMULATED: no Dynamo operator runs here; its documented rule
    is played by ``operator_fakes.dynamo_scaling_adapters``. The target exists in the
    cluster, and scaling it through its scale subresource (as KEDA's HPA does) sets the
    replicas the operator hands the graph."""
    with operator_fakes.lease(api_client, "dynamo"):  # FAKE: no such controller runs here
        done = deploy(conn, model="qwen2.5-7b", runtime="dynamo")
    plan, namespace = done.result.plan, done.namespace
    assert scaling.wants_scaler(plan), plan.autoscaling  # the default tier autoscales
    objects = client.CustomObjectsApi(conn.api)
    (scaler,) = objects.list_namespaced_custom_object(
        "keda.sh", "v1alpha1", namespace, "scaledobjects"
    )["items"]
    target = scaler["spec"]["scaleTargetRef"]
    group, _, version = target["apiVersion"].partition("/")
    plural = operator_fakes.ADAPTER_CRD["spec"]["names"]["plural"]
    manifests = done.result.rendered.manifests
    with operator_fakes.dynamo_scaling_adapters(api_client, manifests, namespace=namespace) as made:
        assert [a["spec"]["dgdRef"]["componentName"] for a in made] == ["VllmDecodeWorker"]
        assert target["kind"] == made[0]["kind"]
        adapter = objects.get_namespaced_custom_object(
            group, version, namespace, plural, target["name"]
        )
        assert adapter["metadata"]["uid"] == made[0]["metadata"]["uid"]
        wanted = plan.autoscaling.max_replicas
        objects.patch_namespaced_custom_object_scale(
            group, version, namespace, plural, target["name"], {"spec": {"replicas": wanted}}
        )
        scaled = objects.get_namespaced_custom_object(
            group, version, namespace, plural, target["name"]
        )
        assert scaled["spec"]["replicas"] == wanted


def test_delete_garbage_collects_everything_but_the_model_cache(
    conn: connecting.Connection,
) -> None:
    done = deploy(conn, model="qwen2.5-1.5b", runtime="vllm", gpu="L4", replicas=1)
    assert watch(conn, done, timeout_s=SETTLE_S).phase is phases.Phase.READY
    name, namespace = done.result.plan.name, done.namespace
    core, apps = client.CoreV1Api(conn.api), client.AppsV1Api(conn.api)
    selector = identity.deployment_selector(name)
    assert apps.list_namespaced_replica_set(namespace, label_selector=selector).items

    deleted = deploying.delete(conn, name=name, namespace=namespace)
    assert "Deployment/" + name in deleted

    def nothing_left() -> bool:
        return not (
            core.list_namespaced_pod(namespace).items
            or apps.list_namespaced_replica_set(namespace).items
            or apps.list_namespaced_deployment(namespace).items
            or core.list_namespaced_service(namespace).items
        )

    eventually(nothing_left, what="pods, ReplicaSets, Deployments and Services gone")
    (pvc,) = core.list_namespaced_persistent_volume_claim(namespace).items
    assert pvc.metadata.labels["app.kubernetes.io/component"] == "model-cache"
    assert pvc.status.phase == "Bound"  # the sandbox's provisioner bound it


def test_deleting_only_the_root_lets_the_garbage_collector_take_its_children(
    conn: connecting.Connection,
) -> None:
    done = deploy(conn, model="qwen2.5-1.5b", runtime="vllm", gpu="L4", replicas=1)
    name, namespace = done.result.plan.name, done.namespace
    core, apps = client.CoreV1Api(conn.api), client.AppsV1Api(conn.api)
    eventually(lambda: bool(core.list_namespaced_pod(namespace).items), what="the Deployment's pod")
    apps.delete_namespaced_deployment(name, namespace, propagation_policy="Background")
    owned = [
        a for a in done.applied if a.kind in ("Service", "PodDisruptionBudget", "ScaledObject")
    ]
    assert owned

    def children_gone() -> bool:
        return not (
            core.list_namespaced_pod(namespace).items
            or core.list_namespaced_service(namespace).items
            or client.PolicyV1Api(conn.api).list_namespaced_pod_disruption_budget(namespace).items
        )

    eventually(children_gone, what="the root's children garbage-collected")
    assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 1


def test_deleting_a_namespace_removes_it_and_its_deployments(
    control_plane: controlplane.ControlPlane,
) -> None:
    conn = connecting.connect(
        connecting.Target(kubeconfig=control_plane.kubeconfig, namespace="kf-doomed")
    )
    core = client.CoreV1Api(conn.api)
    try:
        core.create_namespace({"metadata": {"name": "kf-doomed"}})
        done = deploy(conn, model="qwen2.5-1.5b", runtime="vllm", gpu="L4", replicas=1)
        eventually(
            lambda: bool(inspecting.pods(conn, name=done.result.plan.name, namespace="kf-doomed")),
            what="the deployment's pod",
        )
        core.delete_namespace("kf-doomed")

        def gone() -> bool:
            try:
                core.read_namespace("kf-doomed")
            except client.ApiException as exc:
                return exc.status == 404
            return False

        eventually(gone, timeout_s=90, what="namespace kf-doomed deleted")
    finally:
        conn.close()
