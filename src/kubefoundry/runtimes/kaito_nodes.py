"""Where KAITO's replicas run: the Azure SKU it provisions, or existing nodes by their label.

On Azure KAITO provisions GPU nodes itself: the instance type is the KAITO-supported Azure SKU
holding one replica's GPUs per node, and the label selector is a label KAITO stamps on the
nodes it creates. Elsewhere KAITO runs on existing nodes: no instance type, and the selector
is the GPU label those nodes already carry. Part of the kaito runtime (``kaito.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

from kubefoundry.catalog import instances
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes.common import labels, pods

# Azure NVIDIA SKUs KAITO v0.12 can auto-provision (pkg/sku/azure_sku_handler.go), with the
# GPUs and GPU memory of a node as that table has them (read at v0.11.0); its node estimator
# rejects any other instance type, and sizes each replica from that memory (kaito_sizing).
AZURE_SKU_GPU_MEMORY: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        "Standard_NV36ads_A10_v5": (1, "24Gi"),
        "Standard_NV72ads_A10_v5": (2, "48Gi"),
        "Standard_NC24ads_A100_v4": (1, "80Gi"),
        "Standard_NC48ads_A100_v4": (2, "160Gi"),
        "Standard_NC96ads_A100_v4": (4, "320Gi"),
        "Standard_ND96asr_A100_v4": (8, "320Gi"),
        "Standard_ND96amsr_A100_v4": (8, "640Gi"),
        "Standard_NC40ads_H100_v5": (1, "94Gi"),
        "Standard_NC80adis_H100_v5": (2, "188Gi"),
        "Standard_NCC40ads_H100_v5": (1, "94Gi"),
        "Standard_ND96isr_H100_v5": (8, "640Gi"),
        "Standard_ND96isr_H200_v5": (8, "1128Gi"),
    }
)
AZURE_SKUS = frozenset(AZURE_SKU_GPU_MEMORY)


@dataclasses.dataclass(frozen=True)
class Nodes:
    """Where the replicas run: the instance type KAITO provisions (None: existing nodes)."""

    instance_type: str | None
    selector: dict[str, str]
    decisions: tuple[Decision, ...]


def nodes(plan: Plan, catalog: instances.InstanceCatalog) -> Nodes:
    if plan.gpu_resource != "nvidia.com/gpu":
        raise InvalidInputError(
            f"KAITO cannot serve on {plan.gpu}: its vLLM presets run on NVIDIA GPUs only.",
            hint="Pick an NVIDIA GPU (`gpu` H100, A100, L4), or another `runtime`.",
        )
    if plan.cost.cloud == "azure":
        return _provisioned(plan, catalog)
    return _existing(plan)


def _provisioned(plan: Plan, catalog: instances.InstanceCatalog) -> Nodes:
    per_node = pods.gpus_per_pod(plan)
    offers = [i for i in catalog.for_gpu(plan.gpu, cloud="azure") if i.gpu_count >= per_node]
    known = [i for i in offers if i.name in AZURE_SKUS]
    if not known:
        gpus = sorted({i.gpu_id for i in catalog.all() if i.name in AZURE_SKUS})
        raise InvalidInputError(
            f"KAITO cannot provision {per_node}×{plan.gpu} per node on Azure: no Azure SKU it "
            "supports has that GPU and count.",
            hint=f"KAITO provisions Azure nodes with {', '.join(gpus)}: pin one in `gpu`, or "
            "run KAITO on existing nodes in another cloud.",
        )
    sku = known[0]  # fewest GPUs first, then cheapest
    selector = {labels.DEPLOYMENT: plan.name}
    price = f" at ${sku.usd_per_hour:,.2f}/h" if sku.usd_per_hour else ""
    sku_decision = Decision(
        topic="instance type",
        choice=sku.name,
        reason=f"{sku.gpu_count}×{plan.gpu} per node holds one replica's {per_node} GPU(s); "
        f"KAITO provisions it on Azure{price}",
        alternatives=tuple(Alternative(i.name, _why_not_sku(i, sku)) for i in offers[1:]),
    )
    return Nodes(sku.name, selector, (sku_decision, _label_decision(plan, selector)))


def _label_decision(plan: Plan, selector: Mapping[str, str]) -> Decision:
    cloud_label = Alternative(
        _pairs(plan.node_selector) or "the cloud's GPU label",
        "set by AKS or Karpenter itself, which refuse to stamp it on new nodes; it names "
        "only the vendor, so deployments would claim each other's nodes",
    )
    return Decision(
        topic="node labels",
        choice=_pairs(selector),
        reason="KAITO stamps the selector's labels on every node it provisions and pins the "
        "pods to them, so the nodes carry it and no other deployment claims them",
        alternatives=(cloud_label,),
    )


def _why_not_sku(offer: instances.InstanceType, chosen: instances.InstanceType) -> str:
    if offer.name not in AZURE_SKUS:
        return "not a SKU KAITO v0.12 knows: its node estimator rejects it"
    if offer.gpu_count > chosen.gpu_count:
        return f"{offer.gpu_count} GPUs per node, more than one replica uses"
    return "costs more per hour"


def _existing(plan: Plan) -> Nodes:
    where = plan.cost.cloud or "this cluster"
    if not plan.node_selector:
        raise InvalidInputError(
            f"KAITO on {where} runs on existing GPU nodes, and no node label is known for "
            f"{plan.gpu} there.",
            hint="Describe the node pool in the cluster facts file (node_pools[].labels), or "
            "deploy on Azure where KAITO provisions its own nodes.",
        )
    decision = Decision(
        topic="nodes",
        choice=f"existing nodes labelled {_pairs(plan.node_selector)}",
        reason=f"KAITO provisions nodes only where it was set up to (Azure by default); on "
        f"{where} it schedules onto GPU nodes that already carry this label, with no "
        "instance type, as KAITO requires when it does not provision",
        alternatives=(
            Alternative("a KubeFoundry label", "no existing node carries it: pods would pend"),
        ),
    )
    # How many such nodes it needs depends on the root object: ``kaito.py`` says so.
    return Nodes(None, dict(plan.node_selector), (decision,))


def _pairs(selector: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in selector.items())
