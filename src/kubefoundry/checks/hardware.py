"""What hardware and which model an object names: GPUs requested, GPU type, the model.

The GPU type comes from the labels a pod selects nodes by (``nvidia.com/gpu.product``,
``cloud.google.com/gke-accelerator``, Karpenter's GPU-name labels), from an instance type
(``node.kubernetes.io/instance-type``, KAITO's ``instanceType``) or, with cluster facts,
from the only GPU type of the node pools the pod can land on. When several GPU types are
possible the one with the most memory is assumed, so a memory finding is never a guess
against the user. The model is looked up in the curated catalog only: checks never reach
the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from kubefoundry.catalog.gpus import GPU
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.checks import selectors
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import mapping, to_int
from kubefoundry.core.errors import KubeFoundryError

INSTANCE_TYPE_KEYS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi", "gpu.intel.com/i915")
_MODEL_PREFIXES = ("hf://", "https://huggingface.co/", "huggingface.co/")


@dataclasses.dataclass(frozen=True)
class Hardware:
    gpu: GPU
    source: str  # how we know, e.g. "nodeSelector nvidia.com/gpu.product=NVIDIA-L4"
    gpus_per_node: int | None = None  # known from an instance type


def gpu_count(resources: Any) -> int:
    """GPUs a container asks for (limits, else requests); 0 when none."""
    for part in ("limits", "requests"):
        section = mapping(resources, part)
        counts = [to_int(section.get(r)) for r in GPU_RESOURCES if r in section]
        if counts:
            return sum(c for c in counts if c)
    return 0


def dynamo_gpu_count(resources: Any) -> int:
    """GPUs of a Dynamo v1alpha1 service (``resources.limits.gpu``, a string)."""
    for part in ("limits", "requests"):
        count = to_int(mapping(resources, part).get("gpu"))
        if count:
            return count
    return 0


def instance(name: str, ctx: Context) -> Hardware | None:
    try:
        found = ctx.catalogs.instances.get(name)
        gpu = ctx.catalogs.gpus.get(found.gpu_id)
    except KubeFoundryError:
        return None
    return Hardware(gpu=gpu, source=f"instance type {name}", gpus_per_node=found.gpu_count)


def for_pod(pod: Mapping[str, Any], ctx: Context) -> Hardware | None:
    """The GPU type the pod's node requirements pin, if they pin one."""
    found: list[Hardware] = []
    for term in selectors.pod_terms(pod):
        for req in term:
            if req.operator == "In":
                found += _from_requirement(req, ctx)
    if not found and ctx.facts is not None:
        found = _from_pools(pod, ctx)
    return max(found, key=lambda h: h.gpu.cuda_total_gib, default=None)


def model(name: str | None, ctx: Context) -> ModelEntry | None:
    """The catalog model ``name`` (a Hugging Face id, hf:// URI, alias or KAITO preset)."""
    if not name:
        return None
    for prefix in _MODEL_PREFIXES:
        name = name.removeprefix(prefix)
    if name.startswith("/") or "://" in name:
        return None  # a path or a non-Hub URI: the weights could be anything
    return ctx.catalogs.models.find(name)


def _from_requirement(req: selectors.Requirement, ctx: Context) -> list[Hardware]:
    out = []
    for value in req.values:
        if req.key in INSTANCE_TYPE_KEYS:
            hw = instance(value, ctx)
            if hw:
                out.append(hw)
        elif req.key in _gpu_label_keys(ctx):
            try:
                out.append(Hardware(gpu=ctx.catalogs.gpus.get(value), source=f"{req}"))
            except KubeFoundryError:
                continue
    return out


def _gpu_label_keys(ctx: Context) -> set[str]:
    return {p.label_keys[0] for p in ctx.catalogs.gpus.platforms.values() if p.identifies_model}


def _from_pools(pod: Mapping[str, Any], ctx: Context) -> list[Hardware]:
    assert ctx.facts is not None
    pools = [
        p
        for p in ctx.facts.gpu_pools()
        if any(selectors.satisfied(t, pool_labels(p)) for t in selectors.pod_terms(pod))
    ]
    names = {p.gpu for p in pools if p.gpu}
    if len(names) != 1:
        return []
    try:
        gpu = ctx.catalogs.gpus.get(names.pop() or "")
    except KubeFoundryError:
        return []
    return [
        Hardware(
            gpu=gpu, source=f"node pool {p.name} (cluster facts)", gpus_per_node=p.gpus_per_node
        )
        for p in pools
    ]


def pool_labels(pool: Any) -> dict[str, str]:
    """A node pool's labels, with its instance type as the well-known label."""
    labels = dict(pool.labels)
    if pool.instance_type:
        for key in INSTANCE_TYPE_KEYS:
            labels.setdefault(key, pool.instance_type)
    return labels


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
