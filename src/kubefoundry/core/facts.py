"""What KubeFoundry knows about a target cluster: GPU node pools, cloud, what is installed.

Produced by ``cluster/`` discovery or read from a YAML/JSON file (``--cluster FILE``);
consumed by the planner, which then only offers GPUs the cluster has or can provision.
The same schema serves both, so a discovered cluster can be saved and planned against later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kubefoundry.core import files

Provisioner = Literal["none", "cluster-autoscaler", "karpenter", "gke-nap", "aks-nap"]
# running: its controller was seen acting (or it needs none); crds-only: installed, but no
# controller seen, so its objects would do nothing; unknown: RBAC hid what would show it.
OperatorState = Literal["running", "crds-only", "unknown"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Taint(_Frozen):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class NodePool(_Frozen):
    """Nodes that share a GPU type and shape. ``max_nodes`` above ``nodes`` means it scales."""

    name: str
    gpu: str | None = Field(None, description="GPU name as our catalog knows it, e.g. H100")
    gpus_per_node: int = Field(0, ge=0)
    nodes: int = Field(0, ge=0)
    max_nodes: int | None = Field(None, ge=0)
    free_gpus: int | None = Field(None, ge=0, description="GPUs not requested by any pod")
    instance_type: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @model_validator(mode="after")
    def _gpu_shape(self) -> NodePool:
        if self.gpu and not self.gpus_per_node:
            raise ValueError(f"node pool {self.name!r} names GPU {self.gpu!r} but gpus_per_node=0")
        return self

    @property
    def total_gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def provisionable_nodes(self) -> int:
        return max(self.nodes, self.max_nodes or 0)


class OperatorStatus(_Frozen):
    """One operator whose CRD the cluster serves, and whether its controller runs."""

    state: OperatorState
    version: str = Field("", description="the API version the cluster prefers for its kind")
    evidence: str = Field("", description="what showed it runs, or what was looked for")
    fix: str = Field("", description="what to install or start (crds-only), or to allow")

    @property
    def runs(self) -> bool:
        return self.state == "running"


class ClusterFacts(_Frozen):
    """``installed_runtimes``: the operators whose controller runs (the planner picks only
    runtimes whose operators are all here), each with its API version; ``operators``: every
    operator whose CRD is served, running or not, with what showed it."""

    cloud: Literal["aws", "gcp", "azure", "onprem"] | None = None
    region: str | None = None
    kubernetes_version: str | None = None
    node_pools: tuple[NodePool, ...] = ()
    provisioner: Provisioner = "none"
    installed_runtimes: dict[str, str] = Field(default_factory=dict)
    operators: dict[str, OperatorStatus] = Field(default_factory=dict)
    storage_classes: tuple[str, ...] = ()
    gateway_classes: tuple[str, ...] = ()
    prometheus_operator: bool = False

    def gpu_pools(self) -> tuple[NodePool, ...]:
        return tuple(p for p in self.node_pools if p.gpu)


def load_facts(path: Path) -> ClusterFacts:
    """Read cluster facts from YAML or JSON."""
    return files.load_yaml_model(
        path,
        ClusterFacts,
        what="cluster facts file",
        hint="See docs/planning.md for the schema (cloud, node_pools[].gpu, ...).",
    )
