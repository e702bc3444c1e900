"""Placement: every (GPU type, GPUs per replica) option for a model, sized and priced.

For each candidate GPU type the planner tries 1, 2, 4, 8… GPUs per replica. Within a node,
GPUs are joined by tensor parallelism; past one node, each node is a pipeline stage. Each
option gets the memory estimate at the tier's target context, the largest context at which
the tier's concurrency still fits, a price and a speed. ``placement.choose`` then picks by
the tier's objective, and every other option carries the reason it lost.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence

from kubefoundry.catalog.architecture import ModelArch, Quantization
from kubefoundry.catalog.gpus import GPU
from kubefoundry.core.units import GIB
from kubefoundry.planning import memory, parallelism, performance, precision
from kubefoundry.planning.tiers import Tier

MAX_NODES_PER_REPLICA = 4


@dataclasses.dataclass(frozen=True)
class Offer:
    """Where a GPU type can be had: GPUs per node, the nodes available and the price."""

    gpu: GPU
    gpus_per_node: int
    max_nodes: int
    usd_per_gpu_hour: float | None
    instance_type: str | None
    cloud: str | None
    source: str  # "cluster pool X", "aws price list", "your price"


@dataclasses.dataclass(frozen=True)
class Option:
    offer: Offer
    gpu_count: int
    tp: int
    pp: int
    context: int  # the context this option is sized for
    quantization: Quantization | None
    kv_cache_dtype: memory.KvCacheDtype
    dtype: str
    estimate: memory.MemoryEstimate
    speed: performance.Speed | None
    usd_per_hour: float | None  # per replica
    usd_per_million_tokens: float | None
    fits_target: bool
    fits_floor: bool
    shortfall: memory.Shortfall | None  # at the floor context; None when that fits
    problems: tuple[str, ...] = ()

    @property
    def shortfall_gib(self) -> float:
        """GiB the GPU that lacks most is short at the floor context; 0 when it fits."""
        return self.shortfall.per_gpu_gib if self.shortfall else 0.0

    @property
    def nodes(self) -> int:
        return math.ceil(self.gpu_count / self.offer.gpus_per_node)

    @property
    def label(self) -> str:
        return f"{self.gpu_count}×{self.offer.gpu.id}"


@dataclasses.dataclass(frozen=True)
class Sizing:
    """The tier's memory goal for one plan."""

    target_context: int
    floor_context: int
    min_concurrency: int
    gpu_memory_utilization: float
    vllm_version: str
    utilisation_for_cost: float


def layouts(
    arch: ModelArch, count: int, per_node: int, quant: Quantization | None
) -> Iterator[tuple[int, int]]:
    """(tp, pp) splits of ``count`` GPUs: TP inside a node, one pipeline stage per node."""
    tp = min(count, per_node)
    while tp >= 1:
        if count % tp == 0:
            pp = count // tp
            if not parallelism.tp_problems(arch, tp, quant) and not parallelism.pp_problems(
                arch, pp
            ):
                yield tp, pp
                return
        tp //= 2


def gpu_counts(offer: Offer, pinned: int | None) -> list[int]:
    if pinned is not None:
        return [pinned]
    limit = offer.gpus_per_node * min(offer.max_nodes, MAX_NODES_PER_REPLICA)
    return [2**i for i in range(0, 7) if 2**i <= limit]


def evaluate(
    arch: ModelArch,
    *,
    offer: Offer,
    count: int,
    sizing: Sizing,
    quantization: Quantization | None,
    kv_cache_dtype: memory.KvCacheDtype,
) -> Option:
    gpu = offer.gpu
    dtype = precision.resolve_dtype("auto", arch, bf16_supported=gpu.bf16_supported)
    split = next(layouts(arch, count, offer.gpus_per_node, quantization), None)
    problems: list[str] = []
    if split is None:
        problems = parallelism.tp_problems(arch, min(count, offer.gpus_per_node), quantization)
        split = (min(count, offer.gpus_per_node), max(1, count // offer.gpus_per_node))
    tp, pp = split
    if count > offer.gpus_per_node * offer.max_nodes:
        problems.append(
            f"needs {count} GPUs but at most {offer.gpus_per_node * offer.max_nodes} are available"
        )

    def inputs(context: int) -> memory.MemoryInputs:
        return memory.MemoryInputs(
            gpu_total_gib=gpu.cuda_total_gib,
            tp=tp,
            pp=pp,
            gpu_memory_utilization=sizing.gpu_memory_utilization,
            max_model_len=context,
            dtype=dtype,
            quantization=quantization,
            kv_cache_dtype=kv_cache_dtype,
            vllm_version=sizing.vllm_version,
            gpu_name=gpu.id,
        )

    def run(context: int) -> memory.MemoryEstimate:
        return memory.estimate(arch, inputs(context))

    context, est = _context(run, sizing)
    fits_target = context == sizing.target_context and not problems
    fits_floor = context >= sizing.floor_context and not problems
    short = None
    if context < sizing.floor_context:
        short = memory.shortfall(
            arch, inputs(sizing.floor_context), requests=sizing.min_concurrency
        )
    price = offer.usd_per_gpu_hour * count if offer.usd_per_gpu_hour is not None else None
    speed = None
    if est.kv_tokens > 0:
        # Compare options at the same workload: twice the tier's concurrency, or what fits.
        batch = max(1, min(est.max_num_seqs, int(est.max_concurrency), 2 * sizing.min_concurrency))
        speed = performance.predict(
            arch,
            weight_bytes_per_gpu=est.weights_gib * GIB,
            kv_bytes_per_token_per_gpu=est.kv_bytes_per_token,
            context=context,
            batch=batch,
            tp=tp,
            pp=pp,
            bandwidth_gbps=gpu.memory_bandwidth_gbps,
            dense_tflops=_tflops(gpu, dtype, quantization),
        )
    per_million = None
    if price is not None and speed is not None:
        per_million = performance.usd_per_million_tokens(
            usd_per_hour=price,
            tokens_per_s=speed.decode_tokens_per_s_batch,
            utilisation=sizing.utilisation_for_cost,
        )
    return Option(
        offer=offer,
        gpu_count=count,
        tp=tp,
        pp=pp,
        context=context,
        quantization=quantization,
        kv_cache_dtype=kv_cache_dtype,
        dtype=dtype,
        estimate=est,
        speed=speed,
        usd_per_hour=price,
        usd_per_million_tokens=per_million,
        fits_target=fits_target,
        fits_floor=fits_floor,
        shortfall=short,
        problems=tuple(problems),
    )


def _tflops(gpu: GPU, dtype: str, quant: Quantization | None) -> float:
    if quant is not None and quant.method in ("fp8", "w8a8") and gpu.fp8_supported:
        value = gpu.dense_tflops("fp8")
    else:
        value = gpu.dense_tflops(dtype)
    return value or gpu.dense_tflops("fp16") or 1.0


def _context(
    run: Callable[[int], memory.MemoryEstimate], sizing: Sizing
) -> tuple[int, memory.MemoryEstimate]:
    """The largest context (target, halvings of it, the floor) at which the tier's requests fit.

    Below the floor it keeps halving down to 1024 tokens, to say how far short an option is;
    ``0`` when not even that fits. Every step is an estimate, not an extrapolation: hybrid and
    sliding-window models do not scale linearly with the context.
    """
    target = run(sizing.target_context)
    if _enough(target, sizing):
        return sizing.target_context, target
    ladder = [sizing.target_context // 2**i for i in range(1, 8)]
    above = [c for c in ladder if c > sizing.floor_context]
    below = [c for c in ladder if 1024 <= c < sizing.floor_context]
    if sizing.floor_context < sizing.target_context:
        above.append(sizing.floor_context)
    for context in [*above, *below]:
        est = run(context)
        if _enough(est, sizing):
            return context, est
    return 0, target


def _enough(est: memory.MemoryEstimate, sizing: Sizing) -> bool:
    return est.kv_tokens > 0 and est.max_concurrency >= sizing.min_concurrency


def choose(options: Sequence[Option], tier: Tier) -> Option | None:
    """The tier's pick among the options that fit (at the target context, else the floor)."""
    for pool in ([o for o in options if o.fits_target], [o for o in options if o.fits_floor]):
        if pool:
            return min(pool, key=lambda o: sort_key(o, tier))
    return None


def sort_key(option: Option, tier: Tier) -> tuple[float, ...]:
    price = option.usd_per_hour if option.usd_per_hour is not None else math.inf
    per_million = option.usd_per_million_tokens or math.inf
    speed = option.speed.decode_tokens_per_s_single if option.speed else 0.0
    quantized = 1.0 if option.quantization is not None else 0.0
    if tier.objective == "cost":
        return (price, quantized, option.gpu_count, -option.context)
    if tier.objective == "balanced":
        return (per_million, price, option.gpu_count)
    return (-round(speed, -1), price, option.gpu_count)
