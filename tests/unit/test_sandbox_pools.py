"""The sandbox's fake nodes look like each cloud's GPU nodes: discovery reads them back as the
pools they were made from, and their labels come from our catalogs."""

from __future__ import annotations

import pytest

from kubefoundry.catalog import gpus, instances
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.deploy import discovering
from kubefoundry.sandbox import components, pools

GPUS, INSTANCES = gpus.load(), instances.load()


def facts(*pool: pools.Pool) -> ClusterFacts:
    return discovering.facts_from(
        nodes=pools.all_nodes(pool, gpus=GPUS, instances=INSTANCES), gpus=GPUS, instances=INSTANCES
    )


@pytest.mark.parametrize(
    ("pool", "gpu", "cloud", "instance_type", "taints"),
    [
        (pools.Pool("a", "H100", 8, 2, "gke"), "H100-80GB-SXM", "gcp", "a3-highgpu-8g", 1),
        (pools.Pool("a", "L4", 1, 3, "eks"), "L4", "aws", "g6.xlarge", 0),
        (pools.Pool("a", "L4", 1, 1, "eks", "g6.4xlarge"), "L4", "aws", "g6.4xlarge", 0),
        (pools.Pool("a", "H100", 8, 1, "eks"), "H100-80GB-SXM", "aws", "p5.48xlarge", 0),
        (pools.Pool("a", "H100-NVL", 1, 2, "aks"), "H100-NVL-94GB", "azure", None, 0),
        (pools.Pool("a", "A10", 2, 1, "aks-nap"), "A10", "azure", "Standard_NC32ads_A10_v4", 0),
        (pools.Pool("a", "H100-NVL", 2, 1, "aks-nap"), "H100-NVL-94GB", "azure", None, 0),
        (pools.Pool("a", "A100-80GB-PCIe", 4, 2, "gfd"), "A100-80GB-PCIe", "onprem", None, 0),
    ],
)
def test_discovery_reads_each_platform_pool_back(
    pool: pools.Pool, gpu: str, cloud: str, instance_type: str | None, taints: int
) -> None:
    found = facts(pool)
    (read,) = found.gpu_pools()
    assert (read.gpu, read.gpus_per_node, read.nodes, read.free_gpus) == (
        gpu,
        pool.gpus_per_node,
        pool.nodes,
        pool.gpus_per_node * pool.nodes,
    )
    assert found.cloud == cloud
    if instance_type:
        assert read.instance_type == instance_type
    assert len(read.taints) == taints
    # The pool's GPU label is the catalog's node selector for that platform.
    assert GPUS.get(gpu).node_selector(pool.platform).items() <= read.labels.items()


def test_the_default_pools_are_gke_h100_and_karpenter_l4_with_a_cpu_pool() -> None:
    found = facts(*pools.DEFAULT_POOLS)
    by_name = {p.name: p for p in found.node_pools}
    assert set(by_name) == {"h100", "l4", "system"}
    h100, l4 = by_name["h100"], by_name["l4"]
    assert (h100.gpu, h100.total_gpus) == ("H100-80GB-SXM", 16)
    assert h100.labels["cloud.google.com/gke-accelerator"] == "nvidia-h100-80gb"
    assert [(t.key, t.effect) for t in h100.taints] == [("nvidia.com/gpu", "NoSchedule")]
    assert (l4.gpu, l4.total_gpus) == ("L4", 4)
    assert l4.labels["karpenter.k8s.aws/instance-gpu-name"] == "l4"
    # EKS with the NVIDIA GPU operator: GPU feature discovery's labels too; GKE has none.
    assert l4.labels["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert not [k for k in h100.labels if k.startswith("nvidia.com/")]
    assert by_name["system"].gpu is None
    assert found.provisioner == "karpenter"


def test_every_node_is_managed_by_kwok_and_has_a_cloud_provider_id() -> None:
    key, _, value = components.KWOK_SELECTOR.partition("=")  # what kwok is told to manage
    for node in pools.all_nodes():
        assert node["metadata"]["annotations"][key] == value
        assert node["spec"]["providerID"].split("://")[0] in ("gce", "aws")
        assert node["status"]["allocatable"] == node["status"]["capacity"]


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (pools.Pool("a", "L4", 1, 1, "eks", "p5.48xlarge"), "not a aws instance type with 1 × L4"),
        (pools.Pool("a", "L4", 3, 1, "gke"), "no instance type with 3 × L4"),
        (pools.Pool("a", "L4", 1, 1, "gcp"), "unknown platform"),
    ],
)
def test_a_pool_the_catalogs_cannot_back_is_refused(pool: pools.Pool, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as err:
        pools.nodes(pool, gpus=GPUS, instances=INSTANCES)
    assert err.value.hint


def test_pools_must_have_different_names() -> None:
    twice = (pools.Pool("a", "L4", 1, 1, "eks"), pools.Pool("a", "L4", 1, 1, "gke"))
    with pytest.raises(InvalidInputError, match="different names"):
        pools.all_nodes(twice)
