"""The Plan: every decision the planner made for one deployment, frozen, with its reasons."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubefoundry.planning.memory import MemoryEstimate
from kubefoundry.planning.performance import Speed
from kubefoundry.planning.probes import ProbePlan


@dataclasses.dataclass(frozen=True)
class Alternative:
    option: str
    why_not: str


@dataclasses.dataclass(frozen=True)
class Decision:
    topic: str
    choice: str
    reason: str
    alternatives: tuple[Alternative, ...] = ()


@dataclasses.dataclass(frozen=True)
class Autoscaling:
    """One autoscaling intent; each runtime renders it to its own scaler."""

    signal: str
    target: float
    min_replicas: int
    max_replicas: int
    scale_to_zero: bool
    cooldown_s: int


@dataclasses.dataclass(frozen=True)
class Cost:
    usd_per_hour_replica: float | None
    usd_per_hour_total: float | None
    usd_per_million_tokens: float | None
    utilisation: float
    instance_type: str | None
    nodes_per_replica: int
    cloud: str | None
    price_source: str


@dataclasses.dataclass(frozen=True)
class Plan:
    name: str
    namespace: str | None
    model_id: str
    model_name: str
    gated: bool | None  # None: not known (a model outside the catalog, offline)
    hf_token_secret: str | None
    tier: str
    engine: str
    engine_version: str
    runtime: str | None
    gpu: str
    gpu_resource: str
    gpu_count: int  # per replica
    gpus_per_node: int
    tensor_parallel: int
    pipeline_parallel: int
    nodes_per_replica: int
    replicas: int
    max_model_len: int
    dtype: str
    quantization: str | None
    quantize_at_load: bool  # the checkpoint is not quantized; the engine quantizes on load
    kv_cache_dtype: str
    gpu_memory_utilization: float
    prefix_caching: bool
    memory: MemoryEstimate
    speed: Speed | None
    cost: Cost
    probes: ProbePlan
    autoscaling: Autoscaling
    node_selector: dict[str, str]
    tolerations: tuple[dict[str, str], ...]
    decisions: tuple[Decision, ...]
    warnings: tuple[str, ...]

    @property
    def model_gib(self) -> float:
        """Weights of one replica (all shards), which is also about their size on disk."""
        return self.memory.weights_gib * self.gpu_count

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["memory"].pop("stages", None)
        data["memory"]["fits"] = self.memory.fits
        data["probes"]["startup_budget_s"] = self.probes.startup_budget_s
        return data
