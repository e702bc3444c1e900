"""Placement: every (GPU type, GPUs per replica) option for a model, sized and priced.

For each candidate GPU type the planner tries 1, 2, 4, 8… GPUs per replica. Within a node,
GPUs are joined by tensor parallelism; past one node, each node is a pipeline stage. Each
option gets the memory estimate at the tier's target context (the longest single request
must fit), its speed at the workload (``planning/capacity.py``), the replicas the peak needs
within the latency targets, the whole nodes those replicas occupy and what they cost.
``placement.choose`` then picks by the tier's objective, and every other option carries the
reason it lost.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Sequence

from kubefoundry.catalog.architecture import ModelArch, Quantization
from kubefoundry.catalog.gpus import GPU
from kubefoundry.planning import capacity as load
from kubefoundry.planning import memory, nodes, parallelism, precision, speed
from kubefoundry.planning.tiers import Tier
from kubefoundry.planning.workloads import Traffic

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
    machines: tuple[nodes.Machine, ...] = ()  # whole nodes to buy; empty: priced per GPU

    def nodes_for(self, gpus_per_replica: int, replicas: int) -> nodes.Nodes:
        """The nodes ``replicas`` replicas occupy, priced whole where the offer sells nodes."""
        found = nodes.whole_nodes(
            self.machines, gpus_per_replica=gpus_per_replica, replicas=replicas
        )
        if found is not None:
            return found
        return nodes.per_gpu(
            self.usd_per_gpu_hour,
            gpus_per_node=self.gpus_per_node,
            gpus_per_replica=gpus_per_replica,
            replicas=replicas,
            source=self.source,
        )


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
    serving: Serving | None  # None when nothing fits (no KV cache to serve from)
    usd_per_hour: float | None  # all replicas, whole nodes
    fits_target: bool
    fits_floor: bool
    shortfall: memory.Shortfall | None  # at the floor context; None when that fits
    problems: tuple[str, ...] = ()

    @property
    def meets_targets(self) -> bool:
        return self.serving is not None and self.serving.capacity.meets_targets

    @property
    def request_latency_s(self) -> float:
        """Mean time a request takes at the peak: first token plus the rest."""
        if self.serving is None:
            return math.inf
        got = self.serving.sizing.per_replica
        return got.ttft_s + got.tpot_s * max(self.serving.traffic.output_tokens - 1, 0)

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
class Serving:
    """An option at the workload: its capacity, the replicas the peak needs, their nodes."""

    traffic: Traffic
    capacity: load.Capacity
    sizing: load.Sizing
    nodes: nodes.Nodes
    prices: load.TokenPrices  # at the workload's mean load
    prices_full: load.TokenPrices  # every replica busy at its planned share of capacity
    prefill_share: float


@dataclasses.dataclass(frozen=True)
class Sizing:
    """The tier's goal for one plan: the context, the workload, the headroom."""

    target_context: int
    floor_context: int
    min_concurrency: int  # requests of the full context that must fit at once
    gpu_memory_utilization: float
    vllm_version: str
    utilisation_for_cost: float
    traffic: Traffic | None = None
    load_share: float = 1.0
    min_replicas: int = 1
    spare_replicas: int = 0
    pinned_replicas: int | None = None


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
    serving = None
    price = None
    if est.kv_tokens > 0 and sizing.traffic is not None:
        serving = _serve(arch, offer, count, sizing, inputs(context))
        price = serving.nodes.usd_per_hour
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
        serving=serving,
        usd_per_hour=price,
        fits_target=fits_target,
        fits_floor=fits_floor,
        shortfall=short,
        problems=tuple(problems)
        + ((serving.sizing.problem,) if serving and serving.sizing.problem else ()),
    )


def _serve(
    arch: ModelArch, offer: Offer, count: int, sizing: Sizing, at: memory.MemoryInputs
) -> Serving:
    """The option at the workload: capacity, replicas for the peak, whole nodes, $/1M."""
    traffic = sizing.traffic
    assert traffic is not None
    cap, sized, share = _at_workload(
        arch,
        offer.gpu,
        at,
        traffic,
        sizing.load_share,
        sizing.min_replicas,
        sizing.spare_replicas,
        sizing.pinned_replicas,
    )
    placed = offer.nodes_for(count, sized.replicas)
    prices = load.token_prices(
        usd_per_hour=placed.usd_per_hour,
        traffic=traffic,
        peak_requests_per_s=sized.peak_requests_per_s,
        utilisation=sizing.utilisation_for_cost,
        prefill=share,
    )
    full = load.token_prices(
        usd_per_hour=placed.usd_per_hour,
        traffic=traffic,
        peak_requests_per_s=cap.requests_per_s * sizing.load_share * sized.replicas,
        utilisation=1.0,
        prefill=share,
    )
    return Serving(traffic, cap, sized, placed, prices, full, share)


@functools.lru_cache(maxsize=4096)
def _at_workload(
    arch: ModelArch,
    gpu: GPU,
    at: memory.MemoryInputs,
    traffic: Traffic,
    load_share: float,
    min_replicas: int,
    spare_replicas: int,
    pinned: int | None,
) -> tuple[load.Capacity, load.Sizing, float]:
    """Capacity, replicas and the prompts' share of the time: pure in its arguments, so the
    fix search, which re-plans the same options many times, computes each once."""
    replica = speed.replica(arch, gpu, at)
    cap = load.capacity(replica, traffic)
    sized = load.size(
        replica,
        traffic,
        cap,
        load_share=load_share,
        min_replicas=min_replicas,
        spare_replicas=spare_replicas,
        pinned=pinned,
    )
    # One split of the bill for both prices: the prompts' share of a replica's time at the
    # load it is planned to carry.
    share = load.prefill_share(
        replica,
        traffic,
        concurrency=cap.concurrency * load_share,
        requests_per_s=cap.requests_per_s * load_share,
    )
    return cap, sized, share


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
    """The tier's pick among the options that fit (at the target context, else the floor).

    The latency tier picks the fastest option that costs at most ``LATENCY_PREMIUM`` times the
    cheapest one meeting the targets: speed first, but not at any price.
    """
    for pool in ([o for o in options if o.fits_target], [o for o in options if o.fits_floor]):
        if pool:
            return min(affordable(pool, tier), key=lambda o: sort_key(o, tier))
    return None


LATENCY_PREMIUM = 2.0  # the latency tier pays up to this many times the cheapest option


def cheapest_price(pool: Sequence[Option]) -> float | None:
    """$/hour of the cheapest option meeting the targets (any option when none does)."""
    meeting = [o for o in pool if o.meets_targets] or list(pool)
    prices = [o.usd_per_hour for o in meeting if o.usd_per_hour is not None]
    return min(prices) if prices else None


def affordable(pool: Sequence[Option], tier: Tier) -> list[Option]:
    """The options the tier considers: for the latency tier, those within the premium."""
    cheapest = cheapest_price(pool)
    if tier.objective != "latency" or cheapest is None:
        return list(pool)
    limit = cheapest * LATENCY_PREMIUM + 1e-9
    within = [o for o in pool if o.usd_per_hour is not None and o.usd_per_hour <= limit]
    return within or list(pool)


def price_bucket(price: float | None) -> float:
    """Price in 10 % steps: options this close cost the same to the balanced tier."""
    if price is None or not math.isfinite(price):
        return math.inf
    return round(math.log(max(price, 1e-6)) / math.log(1.1))


def latency_bucket(option: Option) -> float:
    """Request latency in 10 % steps: options this close are equally fast, cost decides."""
    latency = option.request_latency_s
    return math.inf if not math.isfinite(latency) else round(math.log(latency) / math.log(1.1))


def sort_key(option: Option, tier: Tier) -> tuple[float, ...]:
    """Options that meet the latency targets first; then the tier's aim."""
    price = option.usd_per_hour if option.usd_per_hour is not None else math.inf
    missed = 0.0 if option.meets_targets else 1.0
    quantized = 1.0 if option.quantization is not None else 0.0
    if tier.objective == "cost":
        return (missed, price, quantized, option.gpu_count, -option.context)
    if tier.objective == "balanced":
        # Within 10 % of the cheapest price the faster option wins: a price bucket.
        return (
            missed,
            price_bucket(price),
            latency_bucket(option),
            price,
            quantized,
            option.gpu_count,
        )
    return (missed, latency_bucket(option), price, quantized, option.gpu_count)
