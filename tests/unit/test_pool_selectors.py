"""The node selector a plan takes from a discovered pool: the GPU, not today's node shape.

Issue 11: the selector copied every label a pool's nodes share (deprecated
``beta.kubernetes.io/*``, ``karpenter.sh/initialized``, ``gke-os-distribution``, the instance
size), pinning pods to nodes the pool replaces when it changes shape. Read from the sandbox's
pools (Node objects shaped like each cloud's) through discovery, as a real cluster is read.
"""

from __future__ import annotations

import pytest
from tests.support import rendering

from kubefoundry.catalog import gpus, instances
from kubefoundry.deploy import discovering
from kubefoundry.sandbox import pools

GPUS, INSTANCES = gpus.load(), instances.load()
UNSTABLE = (
    "beta.kubernetes.io/",
    "karpenter.sh/initialized",
    "karpenter.sh/registered",
    "cloud.google.com/gke-os-distribution",
    "node.kubernetes.io/instance-type",
    "karpenter.k8s.aws/instance-size",
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
)


@pytest.mark.parametrize(
    ("pool", "model", "selector"),
    [
        (
            pools.Pool("h100", "H100", 8, 2, "gke", instance_type="a3-highgpu-8g"),
            "qwen2.5-7b",
            {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
        ),
        (
            pools.Pool("l4", "L4", 1, 4, "eks", instance_type="g6.4xlarge", gpu_operator=True),
            "qwen2.5-7b",
            {"karpenter.k8s.aws/instance-gpu-name": "l4", "nvidia.com/gpu.product": "NVIDIA-L4"},
        ),
        (  # AKS labels every NVIDIA node accelerator=nvidia: the pool's name tells them apart
            pools.Pool("h100nvl", "H100-NVL", 2, 1, "aks"),
            "qwen2.5-7b",
            {
                "kubernetes.azure.com/accelerator": "nvidia",
                "kubernetes.azure.com/agentpool": "h100nvl",
            },
        ),
        (
            pools.Pool("a100", "A100-80GB-PCIe", 4, 2, "gfd"),
            "qwen2.5-7b",
            {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe"},
        ),
    ],
    ids=["gke-h100", "eks-l4-gpu-operator", "aks-h100-nvl", "onprem-gfd-a100"],
)
def test_the_selector_names_the_gpu_and_nothing_of_todays_node_shape(
    pool: pools.Pool, model: str, selector: dict[str, str]
) -> None:
    nodes = pools.all_nodes((pool,), gpus=GPUS, instances=INSTANCES)
    facts = discovering.facts_from(nodes=nodes, gpus=GPUS, instances=INSTANCES)
    (read,) = facts.gpu_pools()
    if pool.platform != "gfd":  # cloud nodes do carry such labels (GFD-only nodes fewer)
        assert any(k.startswith(UNSTABLE) for k in read.labels)
    onprem = {"usd_per_gpu_hour": 2.0} if pool.platform == "gfd" else {}  # no cloud prices
    plan = rendering.plan(model, facts=facts, **onprem)
    assert plan.node_selector == selector
    assert not [k for k in plan.node_selector if k.startswith(UNSTABLE)]
    # ... and it still lands on every node of the pool.
    for node in nodes:
        assert plan.node_selector.items() <= node["metadata"]["labels"].items()
