"""What a cluster has, as ``ClusterFacts``: read from its objects, interpreted with our catalogs.

``cluster/`` fetches the raw objects (nodes, pods, CRDs, storage and gateway classes) and
hands them here as plain dicts; this module is pure, so it is tested table-driven on real
node shapes from each cloud. The planner then offers only GPUs the cluster has.

- cloud: the node's ``spec.providerID`` scheme (``aws://``, ``gce://``, ``azure://``), else
  each cloud's own node labels; nodes with neither are on-prem.
- GPU type: a label that names the model (GPU feature discovery, GKE, Karpenter on AWS or
  Azure), else the instance type looked up in the price list; AKS's own label names only the
  vendor, so AKS pools are identified by their VM size.
- free GPUs: allocatable minus what running pods request on those nodes; a re-deploy's own
  pods (``own``: its namespace and name) count as free for it, since it replaces them.
- operators: the CRDs the runtimes declare (``cluster_side.operators``, and the add-ons the
  registry lists) that the cluster serves, each with the version it prefers, and whether its
  controller runs (``controllers``): ``installed_runtimes`` holds the running ones only.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.cluster import connecting, reading
from kubefoundry.core import identity
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.core.facts import ClusterFacts, NodePool, Provisioner, Taint
from kubefoundry.deploy import controllers
from kubefoundry.runtimes import registry
from kubefoundry.runtimes.common import objects

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi")
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
REGION = "topology.kubernetes.io/region"
_PROVIDER_SCHEMES = {"aws": "aws", "gce": "gcp", "azure": "azure"}
_CLOUD_LABELS = {
    "eks.amazonaws.com/nodegroup": "aws",
    "karpenter.k8s.aws/instance-family": "aws",
    "cloud.google.com/gke-nodepool": "gcp",
    "kubernetes.azure.com/agentpool": "azure",
    "kubernetes.azure.com/cluster": "azure",
}
_POOL_LABELS = (
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
)
_PER_NODE_LABELS = ("kubernetes.io/hostname", "topology.kubernetes.io/zone")


def facts_from(
    *,
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]] = (),
    served: Mapping[str, Sequence[str]] | None = None,
    storage_classes: Iterable[str] = (),
    gateway_classes: Sequence[Mapping[str, Any]] = (),
    autoscaler_deployments: Iterable[str] = (),
    leases: Sequence[Mapping[str, Any]] = (),
    endpoint_slices: Sequence[Mapping[str, Any]] = (),
    hidden: Mapping[str, str] | None = None,
    kubernetes_version: str | None = None,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    runtimes: registry.Registry | None = None,
    own: tuple[str, str] | None = None,
    now: datetime.datetime | None = None,
) -> ClusterFacts:
    """``served``: ``<plural>.<group>`` → the versions the cluster serves, preferred first
    (the discovery API); ``own``: (namespace, name) of the deployment being re-deployed."""
    served = served or {}
    operators = controllers.states(
        (runtimes or registry.default()).operators(),
        served=served,
        leases=leases,
        pods=pods,
        endpoint_slices=endpoint_slices,
        gateway_classes=gateway_classes,
        hidden=hidden,
        now=now or datetime.datetime.now(datetime.UTC),
    )
    gpu_pods = [p for p in pods if own is None or not _owned_by(p, own)]
    return ClusterFacts(
        cloud=_cloud(nodes),
        region=next((_labels(n)[REGION] for n in nodes if REGION in _labels(n)), None),
        kubernetes_version=kubernetes_version,
        node_pools=tuple(_pools(nodes, _requested(gpu_pods), gpus=gpus, instances=instances)),
        provisioner=_provisioner(nodes, autoscaler_deployments),
        installed_runtimes={k: o.version for k, o in operators.items() if o.runs},
        operators=operators,
        storage_classes=tuple(sorted(storage_classes)),
        gateway_classes=tuple(sorted(_name(c) for c in gateway_classes)),
        prometheus_operator=objects.PROMETHEUS_OPERATOR.crd in served,
    )


def discover(
    conn: connecting.Connection,
    *,
    own: tuple[str, str] | None = None,
    runtimes: registry.Registry | None = None,
) -> tuple[ClusterFacts, list[str]]:
    """The facts of the cluster behind ``conn``, and what could not be read (RBAC).

    ``own``: (namespace, name) of a deployment about to be re-deployed, whose pods' GPUs are
    free for it."""
    chosen = runtimes or registry.default()
    services = [
        s for o in chosen.operators() if o.controller for s in o.controller.webhook_services
    ]
    snap = reading.read(conn, webhook_services=services)
    facts = facts_from(
        nodes=snap.nodes,
        pods=snap.pods,
        served=snap.served,
        storage_classes=snap.storage_classes,
        gateway_classes=snap.gateway_classes,
        autoscaler_deployments=snap.autoscalers,
        leases=snap.leases,
        endpoint_slices=snap.endpoint_slices,
        hidden=snap.hidden(),
        kubernetes_version=snap.version,
        gpus=gpu_catalog.load(),
        instances=instance_catalog.load(),
        runtimes=chosen,
        own=own,
    )
    return facts, snap.refused


def _owned_by(pod: Mapping[str, Any], own: tuple[str, str]) -> bool:
    namespace, name = own
    meta = pod.get("metadata") or {}
    return meta.get("namespace") == namespace and _labels(pod).get(identity.DEPLOYMENT) == name


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _cloud(nodes: Sequence[Mapping[str, Any]]) -> Any:
    for node in nodes:
        scheme = str((node.get("spec") or {}).get("providerID", "")).split("://", 1)[0]
        if scheme in _PROVIDER_SCHEMES:
            return _PROVIDER_SCHEMES[scheme]
        for label, cloud in _CLOUD_LABELS.items():
            if label in _labels(node):
                return cloud
    return "onprem" if nodes else None


def _gpu_count(node: Mapping[str, Any], field: str = "capacity") -> tuple[str | None, int]:
    status = (node.get("status") or {}).get(field) or {}
    for resource in GPU_RESOURCES:
        if resource in status:
            return resource, int(str(status[resource]))
    return None, 0


def _identify(
    labels: Mapping[str, str],
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
) -> str | None:
    """The GPU model: the VM size when the price list knows it (it names the exact part,
    e.g. H100 NVL vs SXM, A100 40 vs 80 GB), else a label that names the model."""
    if INSTANCE_TYPE in labels:
        try:
            return instances.get(labels[INSTANCE_TYPE]).gpu_id
        except KubeFoundryError:
            pass
    for platform in gpus.platforms.values():
        if not platform.identifies_model:
            continue
        value = labels.get(platform.label_keys[0])
        if value:
            try:
                return gpus.get(value).id
            except KubeFoundryError:
                continue
    return None


def _requested(pods: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """GPUs requested per node by pods that hold them (not finished)."""
    out: dict[str, int] = defaultdict(int)
    for pod in pods:
        spec, phase = pod.get("spec") or {}, (pod.get("status") or {}).get("phase")
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            continue
        for container in spec.get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            limits = (container.get("resources") or {}).get("limits") or {}
            for resource in GPU_RESOURCES:
                value = requests.get(resource, limits.get(resource))
                if value is not None:
                    out[spec["nodeName"]] += int(str(value))
    return out


def _pools(
    nodes: Sequence[Mapping[str, Any]],
    requested: Mapping[str, int],
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
) -> list[NodePool]:
    groups: dict[tuple[str, str | None, int, str | None], list[Mapping[str, Any]]] = {}
    for node in nodes:
        labels = _labels(node)
        _, count = _gpu_count(node)
        gpu = _identify(labels, gpus=gpus, instances=instances) if count else None
        pool = next((labels[k] for k in _POOL_LABELS if k in labels), None)
        key = (pool or (f"gpu-{gpu}" if gpu else "cpu"), gpu, count, labels.get(INSTANCE_TYPE))
        groups.setdefault(key, []).append(node)
    return [
        _pool(name, gpu, count, instance_type, members, requested)
        for (name, gpu, count, instance_type), members in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
        )
    ]


def _pool(
    name: str,
    gpu: str | None,
    count: int,
    instance_type: str | None,
    members: Sequence[Mapping[str, Any]],
    requested: Mapping[str, int],
) -> NodePool:
    shared = set(_labels(members[0]).items())
    for node in members[1:]:
        shared &= set(_labels(node).items())
    labels = {k: v for k, v in shared if k not in _PER_NODE_LABELS}
    free = sum(
        max(0, _gpu_count(n, "allocatable")[1] - requested.get(_name(n), 0)) for n in members
    )
    taints = {
        Taint(key=t["key"], value=t.get("value"), effect=t.get("effect", "NoSchedule"))
        for n in members
        for t in ((n.get("spec") or {}).get("taints") or [])
        if t.get("key")
    }
    return NodePool(
        name=name,
        gpu=gpu,
        gpus_per_node=count if gpu else 0,
        nodes=len(members),
        free_gpus=free if count else None,
        instance_type=instance_type,
        labels=dict(sorted(labels.items())),
        taints=tuple(sorted(taints, key=lambda t: (t.key, t.value or "", t.effect))),
    )


def _provisioner(
    nodes: Sequence[Mapping[str, Any]], autoscaler_deployments: Iterable[str]
) -> Provisioner:
    labels = [_labels(n) for n in nodes]
    if any("karpenter.azure.com/sku-name" in lab for lab in labels):
        return "aks-nap"
    if any("karpenter.sh/nodepool" in lab for lab in labels):
        return "karpenter"
    if any(lab.get("cloud.google.com/gke-nodepool", "").startswith("nap-") for lab in labels):
        return "gke-nap"
    if any("cluster-autoscaler" in d for d in autoscaler_deployments):
        return "cluster-autoscaler"
    return "none"
