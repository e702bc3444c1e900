"""The Plan: every decision the planner made for one deployment, frozen, with its reasons."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubefoundry.planning.memory import MemoryEstimate
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
    """What the deployment pays: whole nodes of one machine type, and $ per 1M tokens when it
    serves ``utilisation`` × its peak load on average."""

    usd_per_hour_replica: float | None  # the total shared out over the replicas
    usd_per_hour_total: float | None  # every node the replicas occupy, idle GPUs included
    usd_per_million_tokens: float | None  # output tokens (their share of the bill)
    usd_per_million_input_tokens: float | None
    usd_per_million_output_tokens: float | None
    # The same when every replica is kept busy at its planned share of what it can serve
    # within the targets: the floor a fuller deployment (or a larger peak) would reach.
    usd_per_million_input_tokens_busy: float | None
    usd_per_million_output_tokens_busy: float | None
    utilisation: float  # mean load as a share of the peak
    instance_type: str | None
    nodes_per_replica: int
    nodes: int  # for all replicas
    gpus_per_machine: int
    idle_gpus: int  # paid for on those nodes, used by no replica
    cloud: str | None
    price_source: str


@dataclasses.dataclass(frozen=True)
class Performance:
    """The speed model's figures for one replica at the plan's workload (docs/speed-model.md)."""

    workload: str  # profile, lengths and the peak, worded
    targets: str  # the latency targets, worded
    assumed: tuple[str, ...]  # workload figures taken from the profile or the tier
    performance_mode: str | None  # vLLM --performance-mode, where the release has it
    replicas_needed: int  # for the peak within the targets and the tier's headroom
    peak_requests_per_s: float  # the whole deployment
    capacity_requests_per_s: float  # one replica within the targets (before headroom)
    capacity_concurrency: float  # requests in flight at that load
    load_share: float  # of that capacity a replica is planned to carry
    limit: str  # what bounds a replica's capacity
    meets_targets: bool
    requests_per_s: float  # one replica at the peak
    output_tokens_per_s: float  # one replica at the peak
    input_tokens_per_s: float  # one replica at the peak: its requests' prompt tokens
    ttft_ms: float  # mean, at the peak
    tpot_ms: float  # mean, at the peak
    ttft_p95_ms: float  # 95th percentile at the peak (estimate: planning/capacity.tail)
    tpot_p95_ms: float
    ttft_ms_alone: float  # one request on an idle replica
    tpot_ms_alone: float
    output_tokens_per_s_saturated: float  # one replica with all the engine admits
    prefill_share: float  # share of a replica's time its prompts take


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
    performance_mode: str | None  # vLLM --performance-mode (0.17+); None: engine default
    memory: MemoryEstimate
    performance: Performance | None
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
