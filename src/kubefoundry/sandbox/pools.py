"""The sandbox's simulated node pools: Node objects shaped like each cloud's GPU nodes.

Pure: a ``Pool`` (GPU, GPUs per node, node count, the platform whose labels the nodes carry)
becomes Node manifests. The GPU label comes from the GPU catalog
(``GPU.node_selector(platform)``), the instance type and its CPUs, memory and region from the
instance catalog; the rest follows each platform's conventions: its node-pool label, its
``spec.providerID`` scheme, the topology labels, and the GPU taint where the platform itself
sets one (GKE, when a cluster also has CPU pools). Discovery
(``deploy.discovering``) reads these nodes exactly as it reads a real cluster's.

kwok (``sigs.k8s.io/kwok``) plays the kubelet of every node annotated ``kwok.x-k8s.io/node:
fake``: it keeps the node Ready and runs the pods scheduled onto it (Running, Ready).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.core.errors import InvalidInputError

KWOK_ANNOTATION = "kwok.x-k8s.io/node"  # kwok manages nodes with this annotation = "fake"
SANDBOX_ANNOTATION = "kubefoundry.io/sandbox-pool"  # an annotation: never a node selector
CLOUD = {"gke": "gcp", "eks": "aws", "aks": "azure", "aks-nap": "azure", "gfd": None}
CPU_SHAPE = {"cpu": "8", "memory": "32Gi"}  # nodes without a GPU (no catalog row to read)
_SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_sandbox"
# The GPU taint each platform itself puts on GPU nodes (others set none; users add their own).
_TAINTS: dict[str, tuple[dict[str, str], ...]] = {
    "gke": ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},),
}


@dataclasses.dataclass(frozen=True)
class Pool:
    """``nodes`` nodes with ``gpus_per_node`` of ``gpu`` each (None: a CPU pool)."""

    name: str
    gpu: str | None
    gpus_per_node: int
    nodes: int
    platform: str  # gfd | gke | eks | aks | aks-nap: whose labels the nodes carry
    instance_type: str | None = None  # None: the catalog's cheapest with that many GPUs
    gpu_operator: bool = False  # the NVIDIA GPU operator runs there: GFD's labels too


DEFAULT_POOLS = (
    Pool("h100", "H100", gpus_per_node=8, nodes=2, platform="gke", instance_type="a3-highgpu-8g"),
    Pool(
        "l4",
        "L4",
        gpus_per_node=1,
        nodes=4,
        platform="eks",
        instance_type="g6.4xlarge",
        gpu_operator=True,
    ),
    Pool("system", None, gpus_per_node=0, nodes=1, platform="gke", instance_type="e2-standard-8"),
)


def nodes(
    pool: Pool,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
) -> list[dict[str, Any]]:
    """The Node manifests of ``pool`` (metadata, spec and status with capacity)."""
    if pool.platform not in CLOUD:
        raise InvalidInputError(
            f"Pool {pool.name}: unknown platform {pool.platform!r}.",
            hint="Platforms: " + ", ".join(CLOUD) + ".",
        )
    gpu = gpus.get(pool.gpu) if pool.gpu else None
    instance = _instance(pool, gpu, instances) if gpu else None
    kind = instance.name if instance else pool.instance_type
    region = instance.region if instance else _DEFAULT_REGION.get(pool.platform)
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **({"node.kubernetes.io/instance-type": kind} if kind else {}),
        **({"topology.kubernetes.io/region": region} if region else {}),
        **_platform_labels(pool, kind, gpu, instance),
        **(_gfd_labels(pool, gpu, instance) if gpu and pool.gpu_operator else {}),
    }
    capacity = _capacity(pool, gpu, instance)
    taints = [dict(t) for t in _TAINTS.get(pool.platform, ())] if gpu else []
    out = []
    for index in range(pool.nodes):
        name = _node_name(pool, index)
        zone = _zone(pool.platform, region, index)
        node_labels = {
            **labels,
            "kubernetes.io/hostname": name,
            **({"topology.kubernetes.io/zone": zone} if zone else {}),
        }
        provider = _provider_id(pool, name=name, zone=zone, index=index)
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": dict(sorted(node_labels.items())),
                    "annotations": {KWOK_ANNOTATION: "fake", SANDBOX_ANNOTATION: pool.name},
                },
                "spec": {"taints": taints, **({"providerID": provider} if provider else {})},
                "status": {"capacity": capacity, "allocatable": capacity},
            }
        )
    return out


def all_nodes(
    pools: tuple[Pool, ...] = DEFAULT_POOLS,
    *,
    gpus: gpu_catalog.GpuCatalog | None = None,
    instances: instance_catalog.InstanceCatalog | None = None,
) -> list[dict[str, Any]]:
    gpus = gpus or gpu_catalog.load()
    instances = instances or instance_catalog.load()
    out = [n for pool in pools for n in nodes(pool, gpus=gpus, instances=instances)]
    names = [n["metadata"]["name"] for n in out]
    if len(set(names)) != len(names) or len({p.name for p in pools}) != len(pools):
        raise InvalidInputError(
            "Sandbox pools must have different names: " + ", ".join(p.name for p in pools) + "."
        )
    return out


# What the NVIDIA GPU operator installs cluster-wide that workloads name: its RuntimeClass.
NVIDIA_RUNTIME_CLASS = {
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": "nvidia"},
    "handler": "nvidia",
}


def cluster_objects(pools: tuple[Pool, ...] = DEFAULT_POOLS) -> list[dict[str, Any]]:
    """Cluster-scoped objects the pools' platforms bring (the GPU operator's RuntimeClass)."""
    return [dict(NVIDIA_RUNTIME_CLASS)] if any(p.gpu_operator for p in pools) else []


_DEFAULT_REGION = {"gke": "us-central1", "eks": "us-east-1", "aks": "eastus", "aks-nap": "eastus"}


def _instance(
    pool: Pool, gpu: gpu_catalog.GPU, instances: instance_catalog.InstanceCatalog
) -> instance_catalog.InstanceType | None:
    cloud = CLOUD[pool.platform]
    if cloud is None:
        return None  # on-prem (GPU feature discovery labels only): no cloud instance type
    offered = [i for i in instances.for_gpu(gpu.id, cloud) if i.gpu_count == pool.gpus_per_node]
    if pool.instance_type is None:
        if not offered:
            raise InvalidInputError(
                f"Pool {pool.name}: {cloud} has no instance type with {pool.gpus_per_node} × "
                f"{gpu.id} in our catalog.",
                hint="Instance types with it: "
                + (
                    ", ".join(f"{i.name} ({i.gpu_count})" for i in instances.for_gpu(gpu.id, cloud))
                    or "none"
                )
                + ".",
            )
        return offered[0]
    for instance in offered:
        if instance.name == pool.instance_type:
            return instance
    raise InvalidInputError(
        f"Pool {pool.name}: {pool.instance_type} is not a {cloud} instance type with "
        f"{pool.gpus_per_node} × {gpu.id}.",
        hint="Matching instance types: " + (", ".join(i.name for i in offered) or "none") + ".",
    )


def _capacity(
    pool: Pool, gpu: gpu_catalog.GPU | None, instance: instance_catalog.InstanceType | None
) -> dict[str, str]:
    shape = dict(CPU_SHAPE)
    if instance is not None and instance.vcpus and instance.ram_gib:
        shape = {"cpu": str(instance.vcpus), "memory": f"{int(instance.ram_gib * 1024)}Mi"}
    shape |= {"pods": "110", "ephemeral-storage": "500Gi"}
    if gpu is not None:
        shape[gpu.resource_name] = str(pool.gpus_per_node)
    return shape


def _platform_labels(
    pool: Pool,
    kind: str | None,
    gpu: gpu_catalog.GPU | None,
    instance: instance_catalog.InstanceType | None,
) -> dict[str, str]:
    selector = gpu.node_selector(pool.platform) if gpu else {}
    count = str(pool.gpus_per_node)
    if pool.platform == "gke":
        family = (kind or "").split("-")[0]
        return {
            "cloud.google.com/gke-nodepool": pool.name,
            "cloud.google.com/gke-os-distribution": "cos",
            **({"cloud.google.com/machine-family": family} if family else {}),
            **selector,
        }
    if pool.platform == "eks":  # nodes Karpenter launched
        family, _, size = (kind or "").partition(".")
        gpu_labels = {}
        if gpu is not None:
            gpu_labels = {
                "karpenter.k8s.aws/instance-gpu-count": count,
                "karpenter.k8s.aws/instance-gpu-manufacturer": gpu.vendor.lower(),
                **_gpu_memory(instance),
            }
        return {
            "karpenter.sh/nodepool": pool.name,
            "karpenter.sh/capacity-type": "on-demand",
            "karpenter.sh/registered": "true",
            "karpenter.sh/initialized": "true",
            "karpenter.k8s.aws/instance-family": family,
            "karpenter.k8s.aws/instance-size": size,
            **gpu_labels,
            **selector,
        }
    if pool.platform == "aks":
        return {
            "kubernetes.azure.com/agentpool": pool.name,
            "kubernetes.azure.com/cluster": "MC_sandbox",
            "kubernetes.azure.com/mode": "user",
            "agentpool": pool.name,
            **selector,
        }
    if pool.platform == "aks-nap":  # Karpenter for Azure
        return {
            "karpenter.sh/nodepool": pool.name,
            "karpenter.sh/capacity-type": "on-demand",
            "kubernetes.azure.com/cluster": "MC_sandbox",
            **({"karpenter.azure.com/sku-name": kind} if kind else {}),
            **({"karpenter.azure.com/sku-gpu-count": count} if gpu else {}),
            **selector,
        }
    # gfd: GPU feature discovery (the NVIDIA GPU operator) on any cluster, e.g. on-prem
    return _gfd_labels(pool, gpu, instance) if gpu else {}


def _gfd_labels(
    pool: Pool, gpu: gpu_catalog.GPU | None, instance: instance_catalog.InstanceType | None
) -> dict[str, str]:
    """What GPU feature discovery (part of the NVIDIA GPU operator) labels GPU nodes with."""
    if gpu is None:
        return {}
    memory = instance.gpu_mem_mib_reported if instance else None
    return {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.count": str(pool.gpus_per_node),
        **({"nvidia.com/gpu.memory": str(memory)} if memory else {}),
        **(gpu.node_selector("gfd") if "gfd" in gpu.label_platforms else {}),
    }


def _gpu_memory(instance: instance_catalog.InstanceType | None) -> dict[str, str]:
    if instance is None or instance.gpu_mem_mib_reported is None:
        return {}
    return {"karpenter.k8s.aws/instance-gpu-memory": str(instance.gpu_mem_mib_reported)}


def _node_name(pool: Pool, index: int) -> str:
    """Names in each platform's own style, stable from the pool name and index."""
    digest = hashlib.sha256(f"{pool.name}/{index}".encode()).hexdigest()
    if pool.platform == "gke":
        return f"gke-sandbox-{pool.name}-{digest[:8]}-{digest[8:12]}"
    if pool.platform == "eks":
        octets = int(digest[:4], 16)
        return f"ip-10-0-{octets % 256}-{octets // 256}.ec2.internal"
    if pool.platform == "aks":
        return f"aks-{pool.name}-12345678-vmss{index:06x}"
    if pool.platform == "aks-nap":
        return f"aks-{pool.name}-{digest[:5]}"
    return f"{pool.name}-{index}"


def _zone(platform: str, region: str | None, index: int) -> str | None:
    if region is None:
        return None
    letter = "abc"[index % 3]
    if platform == "gke":
        return f"{region}-{letter}"
    if platform == "eks":
        return f"{region}{letter}"
    return f"{region}-{index % 3 + 1}"  # Azure availability zones are numbered


def _provider_id(pool: Pool, *, name: str, zone: str | None, index: int) -> str | None:
    """Each cloud's ``spec.providerID`` scheme (what discovery reads the cloud from)."""
    if pool.platform == "gke":
        return f"gce://kubefoundry-sandbox/{zone}/{name}"
    if pool.platform == "eks":
        return f"aws:///{zone}/i-{hashlib.sha256(name.encode()).hexdigest()[:17]}"
    if pool.platform == "aks":
        vmss = f"aks-{pool.name}-12345678-vmss"
        return (
            f"azure://{_SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachineScaleSets/"
            f"{vmss}/virtualMachines/{index}"
        )
    if pool.platform == "aks-nap":
        return f"azure://{_SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachines/{name}"
    return None
