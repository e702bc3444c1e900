"""GPU memory of one vLLM replica: weights, activation peak, KV pool, token capacity, context.

The budget follows vLLM's own start-up (see ``engine_profiles``)::

    kv_pool = gpu_memory_utilization × total − weights − activation_peak − non_torch

per GPU, for each pipeline stage. The pool is cut into pages of ``block_size`` tokens; a page
spans every attention layer the GPU holds. Models that mix sliding-window and full layers
are grouped the way vLLM's hybrid KV manager groups them: layers of each kind are split into
groups of equal size (the size of the smaller kind), all groups share one pool of blocks, and
vLLM reports ``blocks // groups × block_size`` tokens. The replica's capacity is that of its
tightest stage.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

from kubefoundry.catalog.architecture import ModelArch, Quantization
from kubefoundry.core import choices
from kubefoundry.core.units import GIB
from kubefoundry.planning import engine_profiles, weights
from kubefoundry.planning.engine_profiles import EngineProfile

KvCacheDtype = choices.KvCacheDtype


@dataclasses.dataclass(frozen=True)
class MemoryInputs:
    """One replica's engine settings. ``gpu_total_gib`` is the total CUDA reports."""

    gpu_total_gib: float
    tp: int = 1
    pp: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int = 8192
    dtype: str = "bf16"
    quantization: Quantization | None = None
    kv_cache_dtype: KvCacheDtype = "auto"
    vllm_version: str = engine_profiles.DEFAULT_VLLM_VERSION
    block_size: int = 16
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    gpu_name: str = ""


@dataclasses.dataclass(frozen=True)
class StageMemory:
    """One GPU of one pipeline stage, in GiB."""

    layers: int
    weights_gib: float
    activation_peak_gib: float
    non_torch_gib: float
    kv_cache_gib: float
    kv_bytes_per_token: float
    num_blocks: int
    kv_tokens: int


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
    budget_gib: float  # gpu_memory_utilization × total, per GPU
    weights_gib: float  # per GPU, largest stage
    activation_peak_gib: float
    non_torch_gib: float
    kv_cache_gib: float  # per GPU, on the stage that limits capacity
    kv_bytes_per_token: float  # per GPU, that stage
    kv_tokens: int  # capacity of the replica, as vLLM logs it
    max_concurrency: float  # requests of max_model_len that fit at once
    max_context_fits: int  # largest max_model_len one request can have (≤ the model's limit)
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_groups: int
    stages: tuple[StageMemory, ...]
    engine: str

    @property
    def fits(self) -> bool:
        return self.kv_tokens > 0 and self.max_concurrency >= 1.0


@dataclasses.dataclass(frozen=True)
class Shortfall:
    """Memory one replica lacks to serve ``requests`` requests of ``context`` tokens at once.

    The figures are per GPU, on the GPU that lacks most (the tightest pipeline stage): what it
    must hold (its share of the weights, the start-up activation peak, memory outside
    PyTorch, the KV cache of the requests) against what vLLM may use. ``total_gib`` adds up
    what every GPU of the replica lacks.
    """

    requests: int
    context: int
    budget_gib: float
    weights_gib: float
    activation_peak_gib: float
    non_torch_gib: float
    kv_cache_gib: float  # what the requests' KV cache needs on that GPU
    per_gpu_gib: float  # needed − budget on that GPU; 0 when it fits
    total_gib: float

    @property
    def needed_gib(self) -> float:
        return self.weights_gib + self.activation_peak_gib + self.non_torch_gib + self.kv_cache_gib


def estimate(arch: ModelArch, inputs: MemoryInputs) -> MemoryEstimate:
    profile = engine_profiles.profile_for(inputs.vllm_version)
    batch = engine_profiles.batch_defaults(
        version=inputs.vllm_version,
        gpu_total_gib=inputs.gpu_total_gib,
        max_model_len=inputs.max_model_len,
        gpu_name=inputs.gpu_name,
    )
    seqs = inputs.max_num_seqs or batch.max_num_seqs
    tokens = inputs.max_num_batched_tokens or batch.max_num_batched_tokens
    quant = inputs.quantization or arch.quantization
    stage_weights = weights.per_gpu(
        arch, tp=inputs.tp, pp=inputs.pp, dtype=inputs.dtype, quantization=quant
    )
    budget = inputs.gpu_memory_utilization * inputs.gpu_total_gib * GIB
    # NCCL and the custom all-reduce buffers come with tensor parallelism; pipeline stages
    # only pass activations point to point.
    non_torch = (profile.non_torch_multi_gpu_gib if inputs.tp > 1 else profile.non_torch_gib) * GIB
    groups = _kv_groups(arch, profile)
    stages = []
    for index, (sw, layers) in enumerate(
        zip(stage_weights, weights.stage_layers(arch.num_layers, inputs.pp), strict=True)
    ):
        last = index == inputs.pp - 1
        act = _activation_peak(arch, inputs, profile, seqs=seqs, tokens=tokens, last_stage=last)
        pool = max(0.0, budget - sw.total - act - non_torch)
        page = _bytes_per_token_per_layer(arch, inputs, profile)
        slots = _layer_slots(layers, groups)
        per_token = page * slots
        blocks = int(pool // (per_token * inputs.block_size)) if per_token else 0
        kv_tokens = (blocks // max(1, _group_count(arch, layers, groups))) * inputs.block_size
        stages.append(
            StageMemory(
                layers=len(layers),
                weights_gib=sw.total / GIB,
                activation_peak_gib=act / GIB,
                non_torch_gib=non_torch / GIB,
                kv_cache_gib=pool / GIB,
                kv_bytes_per_token=per_token,
                num_blocks=blocks,
                kv_tokens=kv_tokens,
            )
        )
    tight = min(stages, key=lambda s: s.kv_tokens)
    per_request = _blocks_per_request(arch, inputs, tokens, groups, inputs.max_model_len)
    concurrency = tight.num_blocks / per_request if per_request else 0.0
    return MemoryEstimate(
        budget_gib=budget / GIB,
        weights_gib=max(s.weights_gib for s in stages),
        activation_peak_gib=max(s.activation_peak_gib for s in stages),
        non_torch_gib=non_torch / GIB,
        kv_cache_gib=tight.kv_cache_gib,
        kv_bytes_per_token=tight.kv_bytes_per_token,
        kv_tokens=tight.kv_tokens,
        max_concurrency=round(concurrency, 2),
        max_context_fits=_max_context(arch, inputs, tokens, groups, tight.num_blocks),
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens,
        kv_groups=_group_count(arch, range(arch.num_layers), groups),
        stages=tuple(stages),
        engine=profile.label,
    )


def shortfall(arch: ModelArch, inputs: MemoryInputs, *, requests: int) -> Shortfall:
    """What each GPU lacks to hold ``requests`` requests of ``inputs.max_model_len`` tokens."""
    est = estimate(arch, inputs)
    groups = _kv_groups(arch, engine_profiles.profile_for(inputs.vllm_version))
    blocks = _blocks_per_request(
        arch, inputs, est.max_num_batched_tokens, groups, inputs.max_model_len
    )
    tp = inputs.tp
    lacks = []
    # Whole blocks, as the pool is handed out: then "short" and "does not fit" always agree.
    needed_blocks = math.ceil(requests * blocks - 1e-9)
    for stage in est.stages:
        kv = needed_blocks * inputs.block_size * stage.kv_bytes_per_token / GIB
        need = stage.weights_gib + stage.activation_peak_gib + stage.non_torch_gib + kv
        lacks.append((need - est.budget_gib, kv, stage))
    lack, kv, stage = max(lacks, key=lambda item: item[0])
    return Shortfall(
        requests=requests,
        context=inputs.max_model_len,
        budget_gib=est.budget_gib,
        weights_gib=stage.weights_gib,
        activation_peak_gib=stage.activation_peak_gib,
        non_torch_gib=stage.non_torch_gib,
        kv_cache_gib=kv,
        per_gpu_gib=max(0.0, lack),
        total_gib=sum(max(0.0, item[0]) * tp for item in lacks),
    )


def kv_bytes_per_token(
    arch: ModelArch, *, tp: int = 1, kv_cache_dtype: KvCacheDtype = "auto", dtype: str = "bf16"
) -> float:
    """KV bytes one token costs across all layers on one GPU (no grouping or padding)."""
    inputs = MemoryInputs(gpu_total_gib=0.0, tp=tp, kv_cache_dtype=kv_cache_dtype, dtype=dtype)
    profile = engine_profiles.profile_for(inputs.vllm_version)
    return _bytes_per_token_per_layer(arch, inputs, profile) * arch.num_layers


def _bytes_per_token_per_layer(
    arch: ModelArch, inputs: MemoryInputs, profile: EngineProfile
) -> float:
    element = 1.0 if inputs.kv_cache_dtype == "fp8" else weights.DTYPE_BYTES[inputs.dtype]
    if arch.mla is not None:
        row = (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * element
        align = profile.mla_row_alignment_bytes
        return math.ceil(row / align) * align if align else row
    heads = max(1, arch.num_kv_heads // inputs.tp) if arch.num_kv_heads >= inputs.tp else 1
    return 2 * heads * arch.head_dim * element


# --- hybrid grouping --------------------------------------------------------------------


def _kv_groups(arch: ModelArch, profile: EngineProfile) -> int:
    """Group size vLLM's hybrid manager uses (0 when every layer is grouped together)."""
    if not (arch.is_hybrid and profile.hybrid_kv_groups):
        return 0
    counts = Counter(arch.layer_kinds).values()
    smallest, largest = min(counts), max(counts)
    # vLLM uses the smaller kind's count, unless the larger is within 25% of it.
    return largest if largest < smallest * 1.25 else smallest


def _layer_slots(layers: range, group_size: int) -> int:
    """Layer-sized slots one block occupies: all layers, or ``group_size`` when grouped."""
    return group_size if group_size else len(layers)


def _group_count(arch: ModelArch, layers: range, group_size: int) -> int:
    if not group_size:
        return 1
    kinds = Counter(arch.layer_kinds[i] for i in layers)
    return sum(math.ceil(n / group_size) for n in kinds.values())


def _tokens_needed(arch: ModelArch, kind: str, max_len: int, batched: int) -> int:
    if kind == "sliding" and arch.sliding_window:
        return min(arch.sliding_window - 1 + batched, max_len)
    return max_len


def _blocks_per_request(
    arch: ModelArch, inputs: MemoryInputs, batched: int, group_size: int, max_len: int
) -> float:
    """Blocks one request of ``max_len`` tokens takes from the shared pool."""
    if not group_size:
        kind = "sliding" if set(arch.layer_kinds) == {"sliding"} else "full"
        return _tokens_needed(arch, kind, max_len, batched) / inputs.block_size
    counts = Counter(arch.layer_kinds)
    return (
        sum(
            math.ceil(n / group_size) * _tokens_needed(arch, kind, max_len, batched)
            for kind, n in counts.items()
        )
        / inputs.block_size
    )


def _max_context(
    arch: ModelArch, inputs: MemoryInputs, batched: int, group_size: int, blocks: int
) -> int:
    """Largest max_model_len for which one request fits, capped by the model's own limit."""
    limit = arch.max_position_embeddings
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _blocks_per_request(arch, inputs, batched, group_size, mid) <= blocks:
            lo = mid
        else:
            hi = mid - 1
    return lo


# --- activation peak ----------------------------------------------------------------------


def _activation_peak(
    arch: ModelArch,
    inputs: MemoryInputs,
    profile: EngineProfile,
    *,
    seqs: int,
    tokens: int,
    last_stage: bool,
) -> float:
    """Peak PyTorch memory of the profiling run, above the weights.

    The dummy forward pass holds, per batched token, the MLP's widest intermediates and a few
    hidden-state copies; the dummy sampler, on the last stage only, holds fp32 logits over the
    full (gathered) vocabulary for every sequence plus its working copies. The two do not
    overlap, so the peak is the larger. Fused-MoE kernels keep their workspaces (routed
    intermediates for every token × expert slot) allocated between passes, so for MoE
    models those add to the peak.
    """
    act = weights.DTYPE_BYTES[inputs.dtype]
    width = (3 if arch.gated_mlp else 2) * _dense_mlp_width(arch) / inputs.tp
    forward = tokens * act * (width + 2 * arch.hidden_size)
    sampler = seqs * arch.vocab_size * profile.sampler_bytes_per_logit if last_stage else 0.0
    return (
        profile.activation_base_gib * GIB
        + _moe_workspace(arch, inputs, tokens)
        + max(forward, sampler)
    )


def _dense_mlp_width(arch: ModelArch) -> int:
    moe = arch.moe
    if moe is None:
        return arch.intermediate_size
    return max(moe.dense_intermediate_size, moe.shared_intermediate_size)


def _moe_workspace(arch: ModelArch, inputs: MemoryInputs, tokens: int) -> float:
    moe = arch.moe
    if moe is None:
        return 0.0
    per_slot = 3 * moe.expert_intermediate_size / inputs.tp + arch.hidden_size
    return tokens * moe.experts_per_token * per_slot * weights.DTYPE_BYTES[inputs.dtype]
