"""Cluster objects → ClusterFacts, on node shapes from each cloud and real CRDs."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from tests.conftest import SHARED
from tests.support import rendering

from kubefoundry.catalog import gpus, instances
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.deploy import discovering
from kubefoundry.deploy import rendering as deploy_rendering
from kubefoundry.runtimes import base

GPUS = gpus.load()
INSTANCES = instances.load()


def node(
    name: str,
    *,
    labels: dict[str, str],
    gpus_: int = 0,
    provider: str = "",
    taints: list[dict[str, str]] | None = None,
    resource: str = "nvidia.com/gpu",
) -> dict[str, Any]:
    capacity = {"cpu": "96", "memory": "1Ti"} | ({resource: str(gpus_)} if gpus_ else {})
    spec: dict[str, Any] = {"providerID": provider} if provider else {}
    if taints:
        spec["taints"] = taints
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        "spec": spec,
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def pod(node_name: str, gpus_: int, phase: str = "Running") -> dict[str, Any]:
    return {
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus_)}}}],
        },
        "status": {"phase": phase},
    }


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GKE = [
    node(
        f"gke-h100-{i}",
        labels={
            "cloud.google.com/gke-nodepool": "h100-pool",
            "cloud.google.com/gke-accelerator": "nvidia-h100-80gb",
            "node.kubernetes.io/instance-type": "a3-highgpu-8g",
            "topology.kubernetes.io/region": "us-central1",
        },
        gpus_=8,
        provider=f"gce://proj/us-central1-a/gke-h100-{i}",
        taints=[GPU_TAINT],
    )
    for i in range(2)
] + [
    node(
        "gke-cpu-0",
        labels={"cloud.google.com/gke-nodepool": "default-pool"},
        provider="gce://proj/us-central1-a/gke-cpu-0",
    )
]
EKS = [
    node(
        f"ip-10-0-0-{i}",
        labels={
            "karpenter.sh/nodepool": "gpu",
            "karpenter.k8s.aws/instance-gpu-name": "l4",
            "node.kubernetes.io/instance-type": "g6.xlarge",
        },
        gpus_=1,
        provider=f"aws:///us-east-1a/i-{i}",
    )
    for i in range(4)
]
ONPREM = [
    node(
        "dgx-1",
        labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8"},
        gpus_=8,
    )
]


def test_gke_pools_cloud_region_taints_and_free_gpus() -> None:
    facts = discovering.facts_from(
        nodes=GKE,
        pods=[pod("gke-h100-0", 8), pod("gke-h100-1", 2), pod("gke-h100-1", 4, "Succeeded")],
        gpus=GPUS,
        instances=INSTANCES,
    )
    assert facts.cloud == "gcp"
    assert facts.region == "us-central1"
    (h100,) = facts.gpu_pools()
    assert (h100.name, h100.gpu, h100.gpus_per_node, h100.nodes) == (
        "h100-pool",
        "H100-80GB-SXM",
        8,
        2,
    )
    assert h100.free_gpus == 6
    assert h100.taints[0].key == "nvidia.com/gpu"
    assert "kubernetes.io/hostname" not in h100.labels
    assert h100.labels["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
    assert len(facts.node_pools) == 2  # the CPU pool is listed too, without GPUs


def test_eks_karpenter_is_the_provisioner_and_l4_is_found() -> None:
    facts = discovering.facts_from(nodes=EKS, gpus=GPUS, instances=INSTANCES)
    assert facts.cloud == "aws"
    assert facts.provisioner == "karpenter"
    (pool,) = facts.gpu_pools()
    assert (pool.gpu, pool.nodes, pool.free_gpus, pool.instance_type) == ("L4", 4, 4, "g6.xlarge")


def test_onprem_gpu_feature_discovery_labels() -> None:
    facts = discovering.facts_from(nodes=ONPREM, gpus=GPUS, instances=INSTANCES)
    assert facts.cloud == "onprem"
    assert facts.gpu_pools()[0].gpu == "A100-80GB-SXM"


def test_aks_pools_are_identified_by_vm_size_because_the_label_names_only_the_vendor() -> None:
    sku = next(i for i in INSTANCES.all() if i.cloud == "azure" and i.gpu_id == "A100-80GB-PCIe")
    aks = node(
        "aks-gpu-0",
        labels={
            "kubernetes.azure.com/agentpool": "gpu",
            "kubernetes.azure.com/accelerator": "nvidia",
            "node.kubernetes.io/instance-type": sku.name,
        },
        gpus_=sku.gpu_count,
        provider="azure:///subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/vm/0",
    )
    facts = discovering.facts_from(nodes=[aks], gpus=GPUS, instances=INSTANCES)
    assert facts.cloud == "azure"
    assert facts.gpu_pools()[0].gpu == "A100-80GB-PCIe"


def _served(*paths: str) -> dict[str, list[str]]:
    """What the discovery API would say the real CRDs serve: each one's served versions,
    its storage version first (the one preferred in these single-version groups)."""
    out = {}
    for path in paths:
        crd = yaml.safe_load((SHARED / "crds" / path).read_text())
        versions = crd["spec"]["versions"]
        ordered = sorted(versions, key=lambda v: not v.get("storage"))
        out[crd["metadata"]["name"]] = [v["name"] for v in ordered if v.get("served", True)]
    return out


def test_installed_runtimes_are_the_served_crds_whose_controller_runs() -> None:
    served = _served(
        "kserve/inferenceservices.serving.kserve.io.yaml",
        "lws/leaderworkersets.leaderworkerset.x-k8s.io.yaml",
        "prometheus-operator/servicemonitors.monitoring.coreos.com.yaml",
    )
    lws_lease = {
        "metadata": {"name": "b8b2488c.x-k8s.io", "namespace": "lws-system"},
        "spec": {"holderIdentity": "lws-0", "renewTime": "2026-01-01T00:00:00.000000Z"},
    }
    facts = discovering.facts_from(
        nodes=EKS,
        served=served,
        leases=[lws_lease],
        gpus=GPUS,
        instances=INSTANCES,
        now=datetime.datetime(2026, 1, 1, 0, 0, 5, tzinfo=datetime.UTC),
    )
    # The versions the CRD files serve (kserve v1beta1, lws v1); only LWS has a controller.
    assert facts.installed_runtimes == {"lws": "v1"}
    assert {k: (o.state, o.version) for k, o in facts.operators.items()} == {
        "kserve": ("crds-only", "v1beta1"),
        "lws": ("running", "v1"),
    }
    assert facts.prometheus_operator


def test_a_redeploy_counts_its_own_pods_gpus_as_free() -> None:
    """Four one-L4 nodes, three of them held by the deployment's own pods and one by
    another's: for a re-deploy of it, three are free (its pods will be replaced)."""
    mine = [
        pod(f"ip-10-0-0-{i}", 1) | {"metadata": {"namespace": "team", "labels": LABELS}}
        for i in range(3)
    ]
    other = pod("ip-10-0-0-3", 1) | {"metadata": {"namespace": "team", "labels": {}}}
    pods = [*mine, other]
    before = discovering.facts_from(nodes=EKS, pods=pods, gpus=GPUS, instances=INSTANCES)
    again = discovering.facts_from(
        nodes=EKS, pods=pods, gpus=GPUS, instances=INSTANCES, own=("team", "qwen")
    )
    elsewhere = discovering.facts_from(
        nodes=EKS, pods=pods, gpus=GPUS, instances=INSTANCES, own=("other-team", "qwen")
    )
    assert before.gpu_pools()[0].free_gpus == 0
    assert again.gpu_pools()[0].free_gpus == 3
    assert elsewhere.gpu_pools()[0].free_gpus == 0


LABELS = {"kubefoundry.io/deployment": "qwen"}


@pytest.mark.parametrize(("nodes", "gpu"), [(GKE, "H100-80GB-SXM"), (EKS, "L4")])
def test_the_planner_only_offers_what_the_discovered_cluster_has(
    nodes: list[dict[str, Any]], gpu: str
) -> None:
    facts = discovering.facts_from(nodes=nodes, gpus=GPUS, instances=INSTANCES)
    plan = rendering.plan("qwen2.5-7b", facts=facts)
    assert plan.gpu == gpu
    pool = facts.gpu_pools()[0]
    for key, value in plan.node_selector.items():
        assert pool.labels.get(key) == value, "the node selector must match the real nodes"


def test_each_kserve_mode_is_planned_only_where_its_own_controller_runs() -> None:
    """KServe's manager reconciles InferenceServices; LLMInferenceServices have a controller
    of their own (installed by its own chart). A cluster running only the first cannot take
    the second mode, and the refusal names the missing controller."""
    served = _served(
        "kserve/inferenceservices.serving.kserve.io.yaml",
        "kserve/llminferenceservices.serving.kserve.io.yaml",
    )
    manager = {  # the chart's pod, running and ready
        "metadata": {
            "name": "kserve-controller-manager-0",
            "namespace": "kserve",
            "labels": {"control-plane": "kserve-controller-manager"},
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    facts = discovering.facts_from(
        nodes=EKS, served=served, pods=[manager], gpus=GPUS, instances=INSTANCES
    )
    assert facts.operators["kserve"].state == "running"
    assert facts.operators["kserve-llmisvc"].state == "crds-only"
    request = DeploymentSpec.model_validate({"model": "qwen2.5-7b", "runtime": "kserve"})
    entry = rendering.catalog().get("qwen2.5-7b")
    runtime, _ = deploy_rendering.plan(request, entry, facts=facts)
    assert runtime.name == "kserve"
    llm = base.Options(llm_inference_service=True)
    with pytest.raises(InvalidInputError) as refused:
        deploy_rendering.plan(request, entry, options=llm, facts=facts)
    said = refused.value.message
    assert "only kserve-llmisvc's CRDs are installed" in said, said
    assert "llmisvc-controller-manager" in said
