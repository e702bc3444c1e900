"""How many nodes KAITO gives one replica: its node estimator, reproduced.

KAITO sizes each replica itself. An InferenceSet's template has no count, and a Workspace's
``resource.count`` is replaced by the estimate whenever the nodes' GPU memory is known, so
the GPUs a replica gets are KAITO's, not the plan's. The formula is KAITO v0.11.0's
(pkg/workspace/estimator/nodesestimator/estimator.go, ``NodeEstimator.EstimateNodeCount``):

    modelSize      = TotalSafeTensorFileSize × 1.02
    gpuMemPerGPU   = node GPU memory / node GPU count
    availGPUMem    = gpuMemPerGPU × 0.84
    fixedReserve   = 2.3 GiB + maxModelLen × BytesPerToken / node GPU count
    availMemPerGPU = (availGPUMem − fixedReserve) / 1.05
    minGPUs        = int(modelSize / availMemPerGPU) + 1
    nodes          = ceil(minGPUs / node GPU count)

Part of the kaito runtime (``kaito.py``).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.core.naming import counted
from kubefoundry.planning.plans import Alternative, Cost, Decision, Plan

# KAITO v0.11.0 nodesestimator/estimator.go
GPU_MEMORY_UTILIZATION = 0.84  # gpuMemoryUtilization: the share of a GPU vLLM is given
WEIGHT_EXPANSION = 1.02  # weightExpansionFactor: loaded weights vs safetensors on disk
BASE_OVERHEAD_GIB = 2.3  # baseOverheadGiB: CUDA context, NCCL, small-model activations
OVERHEAD_WEIGHT_FACTOR = 0.05  # overheadWeightFactor: overhead growing with the weights
DEFAULT_CONTEXT = 2048  # maxModelLen when the inference config names none
# presets/workspace/generator/generator.go calculateKVCacheTokenSize: K and V, fp16 always
# ("TODO: honor kv-cache quantization"), MLA models one latent per layer.
KV_ELEMENT_BYTES = 2
GIB = 1 << 30
MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Weights:
    """What KAITO knows of a model: its safetensors size and its KV cache per token."""

    file_bytes: int  # TotalSafeTensorFileSize
    bytes_per_token: int  # BytesPerToken
    source: str  # where the size comes from, worded for the user


def kv_bytes_per_token(*, layers: int, kv_heads: int, head_dim: int) -> int:
    """KAITO's BytesPerToken: 2 (K and V) × kv heads × head dim × layers × 2 bytes."""
    return 2 * kv_heads * head_dim * layers * KV_ELEMENT_BYTES


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes binary quantity ("25.63Gi") as ``Quantity.Value()`` reads it: exact,
    rounded up to a whole byte."""
    units = {"Gi": GIB, "Mi": MIB, "Ki": 1 << 10}
    for suffix, size in units.items():
        if quantity.endswith(suffix):
            return math.ceil(Fraction(quantity.removesuffix(suffix)) * size)
    return math.ceil(Fraction(quantity))


# KAITO's own model catalog, for the models ours shares with it: modelFileSize and the fields
# BytesPerToken is computed from (numHiddenLayers, numKeyValueHeads, headDim or hiddenSize /
# numAttentionHeads). Source: kaito-project/kaito v0.11.0
# presets/workspace/models/model_catalog.yaml. Keys are Hugging Face ids, lower case.
CATALOG_VERSION = "KAITO v0.11.0 model_catalog.yaml"
CATALOG: dict[str, tuple[str, int, int, int]] = {
    #                                          modelFileSize, layers, kv heads, head dim
    "meta-llama/llama-3.1-8b-instruct": ("14.96Gi", 32, 8, 128),
    "meta-llama/llama-3.3-70b-instruct": ("131.42Gi", 80, 8, 128),
    "mistralai/mistral-7b-instruct-v0.3": ("13.50Gi", 32, 8, 128),
    "microsoft/phi-3-mini-4k-instruct": ("7.12Gi", 32, 32, 96),
    "microsoft/phi-4": ("27.31Gi", 40, 10, 128),
    "google/gemma-3-4b-it": ("8.01Gi", 34, 4, 256),
    "google/gemma-3-27b-it": ("51.10Gi", 62, 16, 128),
    "deepseek-ai/deepseek-r1-distill-llama-8b": ("14.96Gi", 32, 8, 128),
    "openai/gpt-oss-20b": ("25.63Gi", 24, 8, 64),
    "openai/gpt-oss-120b": ("121.54Gi", 36, 8, 64),
}


# Every model KAITO v0.11.0 registers from its catalog (the same file, its name fields,
# lower case): one of these KAITO sizes and configures from what it ships; any other it
# reads from the Hugging Face Hub when a Workspace asks for it.
CATALOG_MODELS = frozenset(
    {
        "deepseek-ai/deepseek-r1-0528",
        "deepseek-ai/deepseek-r1-distill-llama-8b",
        "deepseek-ai/deepseek-r1-distill-qwen-14b",
        "deepseek-ai/deepseek-v3-0324",
        "google/gemma-3-27b-it",
        "google/gemma-3-4b-it",
        "google/gemma-4-26b-a4b-it",
        "google/gemma-4-31b-it",
        "google/gemma-4-e2b-it",
        "google/gemma-4-e4b-it",
        "meta-llama/llama-3.1-8b-instruct",
        "meta-llama/llama-3.3-70b-instruct",
        "microsoft/phi-3-medium-128k-instruct",
        "microsoft/phi-3-medium-4k-instruct",
        "microsoft/phi-3-mini-128k-instruct",
        "microsoft/phi-3-mini-4k-instruct",
        "microsoft/phi-3.5-mini-instruct",
        "microsoft/phi-4",
        "microsoft/phi-4-mini-instruct",
        "minimaxai/minimax-m2.7",
        "mistralai/ministral-3-14b-instruct-2512",
        "mistralai/ministral-3-3b-instruct-2512",
        "mistralai/ministral-3-8b-instruct-2512",
        "mistralai/mistral-7b-instruct-v0.3",
        "mistralai/mistral-7b-v0.3",
        "mistralai/mistral-large-3-675b-instruct-2512",
        "mistralai/mistral-medium-3.5-128b",
        "mistralai/mistral-small-4-119b-2603",
        "mistralai/mistral-small-4-119b-2603-nvfp4",
        "moonshotai/kimi-k2.5",
        "moonshotai/kimi-k2.6",
        "nvidia/nemotron-cascade-2-30b-a3b",
        "nvidia/nvidia-nemotron-3-nano-30b-a3b-bf16",
        "nvidia/nvidia-nemotron-3-nano-4b-bf16",
        "nvidia/nvidia-nemotron-3-super-120b-a12b-bf16",
        "nvidia/nvidia-nemotron-nano-12b-v2-vl-bf16",
        "nvidia/nvidia-nemotron-nano-9b-v2",
        "openai/gpt-oss-120b",
        "openai/gpt-oss-20b",
        "qwen/qwen2.5-coder-32b-instruct",
        "qwen/qwen2.5-coder-7b-instruct",
        "qwen/qwen3-8b-awq",
        "qwen/qwen3.5-122b-a10b",
        "qwen/qwen3.5-122b-a10b-gptq-int4",
        "qwen/qwen3.5-2b",
        "qwen/qwen3.5-397b-a17b-gptq-int4",
        "qwen/qwen3.5-4b",
        "qwen/qwen3.5-9b",
        "qwen/qwen3.6-27b",
        "qwen/qwen3.6-35b-a3b",
        "qwen/qwen3.6-35b-a3b-fp8",
    }
)


def in_catalog(model_id: str) -> bool:
    """Whether KAITO knows the model without asking the Hub."""
    return model_id.lower() in CATALOG_MODELS


def catalog_weights(model_id: str) -> Weights | None:
    """KAITO's own figures for a model in its catalog, None for any other."""
    row = CATALOG.get(model_id.lower())
    if row is None:
        return None
    size, layers, kv_heads, head_dim = row
    return Weights(
        file_bytes=quantity_bytes(size),
        bytes_per_token=kv_bytes_per_token(layers=layers, kv_heads=kv_heads, head_dim=head_dim),
        source=f"{size} in {CATALOG_VERSION}",
    )


def node_memory_from_labels(memory_mib: int, gpus: int) -> int:
    """A node's GPU memory as KAITO reads GPU feature discovery's labels (pkg/sku/helpers.go):
    nvidia.com/gpu.memory (MiB per GPU) rounded to whole GiB, times nvidia.com/gpu.count."""
    return int(memory_mib / 1024 + 0.5) * gpus * GIB


@dataclasses.dataclass(frozen=True)
class Estimate:
    """KAITO's figures for one replica, named as its log line names them."""

    model_size: float  # bytes, loaded
    gpu_mem_per_gpu: float
    avail_gpu_mem: float
    fixed_reserve: float
    avail_mem_per_gpu: float
    min_gpus: int  # 0: KAITO refuses, the GPU is too small for its fixed reserve
    nodes_per_replica: int  # 0 likewise

    @property
    def refused(self) -> bool:
        return self.min_gpus == 0

    def log(self) -> str:
        """The figures as KAITO's controller logs them."""
        return (
            f"modelSize({self.model_size:.0f}), gpuMemPerGPU({self.gpu_mem_per_gpu:.0f}), "
            f"availGPUMem({self.avail_gpu_mem:.0f}), fixedReserve({self.fixed_reserve:.0f}), "
            f"availMemPerGPU({self.avail_mem_per_gpu:.0f}), minGPUs({self.min_gpus}) => "
            f"nodeCountPerReplica({self.nodes_per_replica})"
        )


def estimate(
    *, weights: Weights, node_gpu_memory: int, gpus_per_node: int, max_model_len: int
) -> Estimate:
    """KAITO's node count per replica for ``weights`` on nodes with ``gpus_per_node`` GPUs and
    ``node_gpu_memory`` bytes of GPU memory in all, serving ``max_model_len`` tokens."""
    model_size = weights.file_bytes * WEIGHT_EXPANSION
    per_gpu = float(node_gpu_memory // gpus_per_node)
    avail = per_gpu * GPU_MEMORY_UTILIZATION
    context = max_model_len if max_model_len > 0 else DEFAULT_CONTEXT
    reserve = BASE_OVERHEAD_GIB * GIB + context * weights.bytes_per_token / gpus_per_node
    if avail <= reserve:
        return Estimate(model_size, per_gpu, avail, reserve, 0.0, 0, 0)
    for_weights = (avail - reserve) / (1 + OVERHEAD_WEIGHT_FACTOR)
    min_gpus = int(model_size / for_weights) + 1
    nodes = -(-min_gpus // gpus_per_node)
    return Estimate(model_size, per_gpu, avail, reserve, for_weights, min_gpus, nodes)


# --- the plan as KAITO sizes it ------------------------------------------------------------


def weights(plan: Plan) -> Weights | None:
    """KAITO's figures for the plan's model; for a model outside KAITO's catalog, our estimate
    of the repo's size (the planned weights) and BytesPerToken from our catalog's config;
    None when the model is in neither."""
    known = catalog_weights(plan.model_id)
    if known is not None:
        return known
    entry = models.ModelCatalog.load().find(plan.model_id)
    if entry is None:
        return None
    arch = entry.arch
    if arch.mla is not None:
        per_token = (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * arch.num_layers * 2
    else:
        per_token = kv_bytes_per_token(
            layers=arch.num_layers, kv_heads=arch.num_kv_heads, head_dim=arch.head_dim
        )
    return Weights(
        file_bytes=round(plan.model_gib * GIB),
        bytes_per_token=per_token,
        source=f"{plan.model_gib:.1f} GiB, our estimate of the repo's size (the planned "
        "weights; KAITO reads the Hugging Face repo's safetensors sizes)",
    )


@dataclasses.dataclass(frozen=True)
class Sku:
    """A node KAITO provisions, as its SKU table has it (``kaito_nodes.AZURE_SKU_GPU_MEMORY``)."""

    name: str
    gpus: int
    memory: str  # all GPUs of the node, a Kubernetes quantity


@dataclasses.dataclass(frozen=True)
class NodeMemory:
    """The GPU shape KAITO reads for the plan's nodes."""

    total: int  # bytes, all GPUs of a node
    gpus: int
    source: str


def node_memory(plan: Plan, *, sku: Sku | None, catalog: instances.InstanceCatalog) -> NodeMemory:
    """From KAITO's SKU table where it provisions the node; elsewhere from GPU feature
    discovery's labels, which we expect to say the GPU memory the instance type reports (or,
    for a machine we do not know, the memory CUDA reports for the GPU)."""
    if sku is not None:
        return NodeMemory(quantity_bytes(sku.memory), sku.gpus, f"{sku.memory} for {sku.name}")
    count = max(plan.cost.gpus_per_machine, 1)
    mib = _reported_mib(plan, catalog)
    return NodeMemory(
        node_memory_from_labels(mib, count),
        count,
        f"nodes labelled nvidia.com/gpu.memory={mib}, nvidia.com/gpu.count={count}",
    )


def _reported_mib(plan: Plan, catalog: instances.InstanceCatalog) -> int:
    if plan.cost.instance_type:
        try:
            reported = catalog.get(plan.cost.instance_type).gpu_mem_mib_reported
        except KubeFoundryError:
            reported = None
        if reported:
            return reported
    return round(gpus.load().get(plan.gpu).cuda_total_gib * 1024)


def resize(plan: Plan, *, sku: Sku | None, catalog: instances.InstanceCatalog) -> Plan:
    """The plan with KAITO's nodes per replica, its GPUs and its price, and a decision that
    says why; unchanged when KAITO agrees, or when it would need fewer nodes (it would give
    the replica less memory than the plan's context needs: a warning says so)."""
    known = weights(plan)
    if known is None:
        return _warned(
            plan,
            f"KAITO sizes each replica itself from {plan.model_id}'s safetensors; the model is "
            "in neither its catalog nor ours, so its node count is not checked here: compare "
            "the Workspace's status.targetNodeCount with the plan.",
        )
    shape = node_memory(plan, sku=sku, catalog=catalog)
    est = estimate(
        weights=known,
        node_gpu_memory=shape.total,
        gpus_per_node=shape.gpus,
        max_model_len=plan.max_model_len,
    )
    if est.refused:
        return _warned(
            plan,
            "KAITO will refuse this replica: its node estimator keeps "
            f"{est.fixed_reserve / GIB:.1f} GiB per GPU for overhead and a "
            f"{plan.max_model_len}-token context, more than the "
            f"{est.avail_gpu_mem / GIB:.1f} GiB it gives vLLM of a {plan.gpu} ({shape.source}).",
        )
    if est.nodes_per_replica == plan.nodes_per_replica:
        return plan
    if est.nodes_per_replica < plan.nodes_per_replica:
        return _warned(
            plan,
            f"KAITO's node estimator gives each replica {counted(est.nodes_per_replica, 'node')}, "
            f"not the planned {plan.nodes_per_replica}: it counts only the weights "
            f"({known.source}) and a fixed reserve, not the KV cache the plan's concurrency "
            f"needs ({est.log()}).",
        )
    return _grown(plan, est, known, shape)


def _warned(plan: Plan, line: str) -> Plan:
    if line in plan.warnings:  # adapted twice
        return plan
    return dataclasses.replace(plan, warnings=(*plan.warnings, line))


def _grown(plan: Plan, est: Estimate, known: Weights, shape: NodeMemory) -> Plan:
    per_pod = plan.gpu_count // plan.nodes_per_replica
    nodes = est.nodes_per_replica
    gpu_count = nodes * per_pod
    cost = _cost(plan, nodes_per_replica=nodes, gpu_count=gpu_count)
    price = (
        f"; ${cost.usd_per_hour_total:,.2f}/h in all instead of "
        f"${plan.cost.usd_per_hour_total:,.2f}/h"
        if cost.usd_per_hour_total is not None and plan.cost.usd_per_hour_total is not None
        else ""
    )
    decision = Decision(
        topic="KAITO node estimate",
        choice=f"{counted(nodes, 'node')} per replica ({gpu_count}×{plan.gpu}), not the planned "
        f"{plan.nodes_per_replica} ({plan.gpu_count}×{plan.gpu})",
        reason=f"KAITO's node estimator sizes each replica itself and overrides the plan's "
        f"count (an InferenceSet's template has none; a Workspace's resource.count is "
        f"replaced): it loads {known.source} × {WEIGHT_EXPANSION} = "
        f"{est.model_size / GIB:.1f} GiB into {est.avail_mem_per_gpu / GIB:.1f} GiB per GPU "
        f"({shape.source}: {est.gpu_mem_per_gpu / GIB:.0f} GiB × {GPU_MEMORY_UTILIZATION}, less "
        f"{est.fixed_reserve / GIB:.1f} GiB for overhead and a {plan.max_model_len}-token "
        f"context, ÷ {1 + OVERHEAD_WEIGHT_FACTOR}), so {est.min_gpus} GPUs{price}. The memory "
        f"and speed figures are the planned layout's. KAITO would log: {est.log()}",
        alternatives=(
            Alternative(
                f"the planned {counted(plan.nodes_per_replica, 'node')}",
                "KAITO ignores it: a cluster sized for it leaves the extra pods Pending",
            ),
        ),
    )
    pipeline = gpu_count // plan.tensor_parallel
    return dataclasses.replace(
        plan,
        gpu_count=gpu_count,
        nodes_per_replica=nodes,
        pipeline_parallel=pipeline if pipeline * plan.tensor_parallel == gpu_count else 1,
        cost=cost,
        decisions=(*plan.decisions, decision),
        warnings=(
            *plan.warnings,
            f"KAITO will run each replica on {counted(nodes, 'node')} ({gpu_count}×{plan.gpu}), "
            f"not the {plan.nodes_per_replica} we would plan: its node estimator sizes replicas "
            "itself; the price shown is for its count.",
        ),
    )


def _cost(plan: Plan, *, nodes_per_replica: int, gpu_count: int) -> Cost:
    """The bill for whole nodes at KAITO's count: every dollar figure scales with the nodes
    (the throughput is the planned layout's)."""
    old = plan.cost
    nodes = nodes_per_replica * plan.replicas
    ratio = nodes / old.nodes if old.nodes else 1.0

    def scaled(value: float | None, digits: int = 2) -> float | None:
        return round(value * ratio, digits) if value is not None else None

    return dataclasses.replace(
        old,
        usd_per_hour_replica=scaled(old.usd_per_hour_replica),
        usd_per_hour_total=scaled(old.usd_per_hour_total),
        usd_per_million_tokens=scaled(old.usd_per_million_tokens, 4),
        usd_per_million_input_tokens=scaled(old.usd_per_million_input_tokens, 4),
        usd_per_million_output_tokens=scaled(old.usd_per_million_output_tokens, 4),
        usd_per_million_input_tokens_busy=scaled(old.usd_per_million_input_tokens_busy, 4),
        usd_per_million_output_tokens_busy=scaled(old.usd_per_million_output_tokens_busy, 4),
        nodes_per_replica=nodes_per_replica,
        nodes=nodes,
        idle_gpus=max(0, nodes * old.gpus_per_machine - gpu_count * plan.replicas),
    )
