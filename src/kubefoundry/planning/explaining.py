"""Offers and explanations: where GPUs come from, why options lost, how to fix a misfit.

Kept apart from ``placement`` (the arithmetic) so the wording of every reason lives in one
place and the CLI and the web UI show the same sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts, NodePool
from kubefoundry.core.naming import counted
from kubefoundry.planning import placement
from kubefoundry.planning.plans import Alternative, Decision
from kubefoundry.planning.request import DeploymentRequest
from kubefoundry.planning.tiers import Tier

SERVED_VENDORS = ("NVIDIA",)  # the vLLM CUDA image; ROCm and Gaudi images come with runtimes
_PLATFORM_OF_CLOUD = {"aws": "eks", "gcp": "gke", "azure": "aks"}


# --- offers -------------------------------------------------------------------------------


def offers(
    *,
    request: DeploymentRequest,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
) -> tuple[list[placement.Offer], list[Alternative]]:
    """GPU types the plan may use, and the ones it may not with the reason."""
    pinned = gpus.get(request.gpu) if request.gpu else None
    if facts is not None and facts.gpu_pools():
        return _cluster_offers(request, gpus, instances, facts, pinned)
    if request.cloud == "onprem" and request.usd_per_gpu_hour is None and pinned is None:
        raise InvalidInputError(
            "On-prem GPUs have no price list, so there is nothing to rank GPU types by.",
            hint="Give what a GPU-hour costs you (--usd-per-gpu-hour 2.5, amortised), or plan "
            "for the hardware you have: --gpu NAME, or --cluster FILE with its node pools.",
        )
    result: list[placement.Offer] = []
    unavailable: list[Alternative] = []
    for gpu in [pinned] if pinned else gpus.all():
        if gpu.vendor not in SERVED_VENDORS:
            unavailable.append(
                Alternative(
                    gpu.id,
                    f"{gpu.vendor} GPUs need a runtime image "
                    "other than vLLM's CUDA build; not planned yet",
                )
            )
            continue
        offer = _cloud_offer(gpu, request, instances)
        if offer is None:
            where = request.cloud or "any cloud in our price list"
            unavailable.append(Alternative(gpu.id, f"not offered on {where}"))
        else:
            result.append(offer)
    return result, unavailable


def _cloud_offer(
    gpu: gpu_catalog.GPU, request: DeploymentRequest, instances: instance_catalog.InstanceCatalog
) -> placement.Offer | None:
    if request.usd_per_gpu_hour is not None or request.cloud == "onprem":
        return placement.Offer(
            gpu=gpu,
            gpus_per_node=8,
            max_nodes=placement.MAX_NODES_PER_REPLICA,
            usd_per_gpu_hour=request.usd_per_gpu_hour,
            instance_type=None,
            cloud=request.cloud,
            source="your price" if request.usd_per_gpu_hour else "no price",
        )
    rows = list(instances.for_gpu(gpu.id, cloud=request.cloud))
    if not rows:
        return None
    priced = [(r, r.usd_per_gpu_hour) for r in rows if r.usd_per_gpu_hour]
    best, best_price = min(priced, key=lambda p: p[1]) if priced else (None, None)
    return placement.Offer(
        gpu=gpu,
        gpus_per_node=max(r.gpu_count for r in rows),
        max_nodes=placement.MAX_NODES_PER_REPLICA,
        usd_per_gpu_hour=round(best_price, 4) if best_price else None,
        instance_type=best.name if best else rows[0].name,
        cloud=best.cloud if best else rows[0].cloud,
        source=f"{best.cloud} {best.region} on-demand, {best.price_as_of}" if best else "no price",
    )


def _cluster_offers(
    request: DeploymentRequest,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts,
    pinned: gpu_catalog.GPU | None,
) -> tuple[list[placement.Offer], list[Alternative]]:
    result: list[placement.Offer] = []
    for pool in facts.gpu_pools():
        gpu = gpus.get(pool.gpu or "")
        if pinned and gpu.id != pinned.id:
            continue
        price = request.usd_per_gpu_hour
        source = "your price"
        if price is None:
            per_gpu = instances.usd_per_gpu_hour(gpu.id, cloud=facts.cloud)
            price, source = per_gpu, f"{facts.cloud or 'cloud'} list price for {gpu.id}"
        result.append(
            placement.Offer(
                gpu=gpu,
                gpus_per_node=pool.gpus_per_node,
                max_nodes=max(1, pool.provisionable_nodes),
                usd_per_gpu_hour=price,
                instance_type=pool.instance_type,
                cloud=facts.cloud,
                source=f"node pool {pool.name}; {source}",
            )
        )
    unavailable = []
    if pinned and not result:
        have = ", ".join(sorted({p.gpu or "" for p in facts.gpu_pools()}))
        unavailable.append(
            Alternative(pinned.id, f"the cluster has no {pinned.id} nodes (it has: {have})")
        )
    return result, unavailable


# --- selectors ----------------------------------------------------------------------------


def platform_for(cloud: str | None, facts: ClusterFacts | None) -> str:
    if facts is not None and facts.provisioner == "karpenter" and cloud == "aws":
        return "eks"
    if facts is not None and facts.provisioner == "aks-nap":
        return "aks-nap"
    return _PLATFORM_OF_CLOUD.get(cloud or "", "gfd")


def _pool(offer: placement.Offer, facts: ClusterFacts | None) -> NodePool | None:
    if facts is None:
        return None
    for pool in facts.gpu_pools():
        if offer.source.startswith(f"node pool {pool.name};"):
            return pool
    return None


def node_selector(
    offer: placement.Offer, platform: str, facts: ClusterFacts | None
) -> dict[str, str]:
    pool = _pool(offer, facts)
    if pool is not None and pool.labels:
        return dict(pool.labels)
    gpu = offer.gpu
    if platform in gpu.label_platforms:
        return gpu.node_selector(platform)
    if "gfd" in gpu.label_platforms:
        return gpu.node_selector("gfd")
    return {}


def tolerations(
    offer: placement.Offer, platform: str, facts: ClusterFacts | None
) -> tuple[dict[str, str], ...]:
    pool = _pool(offer, facts)
    if pool is not None:
        return tuple({"key": t.key, "operator": "Exists", "effect": t.effect} for t in pool.taints)
    return tuple(offer.gpu.tolerations(platform))


# --- reasons ------------------------------------------------------------------------------


def money(value: float | None) -> str:
    return "no price" if value is None else f"${value:,.2f}/h"


def describe(option: placement.Option) -> str:
    fmt = option.quantization.method if option.quantization else option.dtype
    return f"{option.label} (TP{option.tp}×PP{option.pp}, {fmt}, KV {option.kv_cache_dtype})"


def shortfall_text(option: placement.Option) -> str:
    """The memory an option lacks at the floor context, itemised, per GPU and in total."""
    short = option.shortfall
    if short is None:
        return "; ".join(option.problems)
    who = "each GPU needs" if option.pp == 1 else "the fullest GPU needs"
    text = (
        f"{who} {short.needed_gib:.1f} GiB ({short.weights_gib:.1f} weights + "
        f"{short.activation_peak_gib:.1f} activations + {short.non_torch_gib:.1f} runtime + "
        f"{short.kv_cache_gib:.1f} KV cache for {short.requests} requests of "
        f"{short.context:,} tokens) but vLLM may use {short.budget_gib:.1f} GiB of its "
        f"{option.offer.gpu.cuda_total_gib:.1f}: {gib(short.per_gpu_gib)} GiB short per GPU"
    )
    if option.gpu_count > 1:
        text += f", {gib(short.total_gib)} GiB over all {option.gpu_count} GPUs"
    return text


def gib(value: float) -> str:
    """One decimal, but never "0.0" for something that is short."""
    if 0 < value < 0.01:
        return "<0.01"
    return f"{value:.2f}" if value < 0.05 else f"{value:.1f}"


def why_not(option: placement.Option, chosen: placement.Option, tier: Tier) -> str:
    """Why ``option`` lost to ``chosen``, the reason first.

    The reason is the first thing the tier's ordering (``placement.sort_key``) tells apart, so
    a rejected option never reads as the better one. Two figures stand side by side only when
    they measure the same thing (the same context); otherwise the option's own figure is
    given with what it was measured at.
    """
    if option.problems:
        return "cannot run: " + "; ".join(option.problems)
    if option.shortfall is not None:
        short = option.shortfall
        return (
            f"does not fit: {gib(short.per_gpu_gib)} GiB short per GPU for {short.requests} "
            f"requests of {short.context:,} tokens (needs {short.needed_gib:.1f} GiB, vLLM may "
            f"use {short.budget_gib:.1f})"
        )
    if chosen.fits_target and not option.fits_target:
        return f"shorter context: fits {option.context:,} tokens, the pick {chosen.context:,}"
    if tier.objective == "cost":
        reason = _cost_reason(option, chosen)
    elif tier.objective == "balanced":
        reason = _per_million_reason(option, chosen)
    else:
        reason = _speed_reason(option, chosen)
    return reason or _tie_reason(option, chosen)


def _cost_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    mine, theirs = option.usd_per_hour, chosen.usd_per_hour
    if mine is None and theirs is not None:
        return "no price, so it cannot be compared on $/hour"
    if mine is not None and theirs is not None and mine > theirs:
        return f"costs more: {money(mine)} vs {money(theirs)} for the pick"
    return None


def _per_million_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    mine, theirs = option.usd_per_million_tokens, chosen.usd_per_million_tokens
    if mine is None and theirs is not None:
        return "no price, so it cannot be compared on $ per 1M output tokens"
    if mine is not None and theirs is not None and mine > theirs:
        if option.context == chosen.context:
            return f"costs more per 1M output tokens: ${mine:.3f} vs ${theirs:.3f} for the pick"
        return (
            f"costs more per 1M output tokens (${mine:.3f}, measured at "
            f"{option.context:,} tokens of context)"
        )
    return _cost_reason(option, chosen)


def _speed_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    mine = option.speed.decode_tokens_per_s_single if option.speed else 0.0
    theirs = chosen.speed.decode_tokens_per_s_single if chosen.speed else 0.0
    if round(mine, -1) < round(theirs, -1):
        if option.context == chosen.context:
            return f"slower decode: {mine:.0f} tokens/s per request vs {theirs:.0f} for the pick"
        return f"slower decode ({mine:.0f} tokens/s per request at {option.context:,} tokens)"
    cost = _cost_reason(option, chosen)
    if cost:
        return f"{cost}; decode speed is within 10 tokens/s of the pick"
    return None


def _tie_reason(option: placement.Option, chosen: placement.Option) -> str:
    if (option.quantization is not None) > (chosen.quantization is not None):
        fmt = option.quantization.method if option.quantization else ""
        return f"quantized weights ({fmt}) where native weights fit at the same cost"
    if option.gpu_count > chosen.gpu_count:
        return f"more GPUs ({option.gpu_count} vs {chosen.gpu_count}) for no gain on the tier's aim"
    if option.context < chosen.context:
        return f"shorter context ({option.context:,} tokens) at the same cost"
    return "ties with the pick on the tier's aim; the pick came first"


def best_per_gpu(options: Iterable[placement.Option], tier: Tier) -> Iterator[placement.Option]:
    """Each GPU type's best option (the one to compare against the pick)."""
    by_gpu: dict[str, list[placement.Option]] = {}
    for option in options:
        by_gpu.setdefault(option.offer.gpu.id, []).append(option)
    for group in by_gpu.values():
        fitting = [o for o in group if o.fits_floor]
        if fitting:
            yield min(fitting, key=lambda o: placement.sort_key(o, tier))
        else:
            yield min(group, key=lambda o: (o.shortfall_gib, o.gpu_count))


def decisions(
    *,
    tier: Tier,
    sizing: placement.Sizing,
    chosen: placement.Option,
    options: Sequence[placement.Option],
    unavailable: Sequence[Alternative],
    replicas: int,
    request: DeploymentRequest,
) -> Iterator[Decision]:
    others = [o for o in best_per_gpu(options, tier) if o.offer.gpu.id != chosen.offer.gpu.id]
    same_gpu = [o for o in options if o.offer.gpu.id == chosen.offer.gpu.id and o is not chosen]
    objective = {
        "cost": "the lowest $/hour",
        "balanced": "the lowest $ per 1M output tokens",
        "latency": "the fastest decode per request",
    }[tier.objective]
    yield Decision(
        topic="gpu",
        choice=f"{chosen.offer.gpu.id} ({chosen.offer.source})",
        reason=(
            "pinned by the request"
            if request.gpu
            else f"{tier.name} tier picks {objective} among options that fit"
        ),
        alternatives=tuple(
            [Alternative(describe(o), why_not(o, chosen, tier)) for o in others] + list(unavailable)
        ),
    )
    yield Decision(
        topic="gpu_count",
        choice=f"{chosen.gpu_count} per replica: TP {chosen.tp} × PP {chosen.pp} on "
        f"{counted(chosen.nodes, 'node')}",
        reason=(
            "pinned by the request"
            if request.gpu_count
            else "tensor parallel inside a node, one pipeline stage per extra node"
        ),
        alternatives=tuple(
            Alternative(describe(o), why_not(o, chosen, tier))
            for o in sorted(same_gpu, key=lambda o: o.gpu_count)[:6]
        ),
    )
    est = chosen.estimate
    yield Decision(
        topic="context",
        choice=f"max_model_len {chosen.context:,}",
        reason=(
            f"{est.max_concurrency:.1f} requests of this length fit in "
            f"{est.kv_tokens:,} KV tokens; the tier asks for {sizing.min_concurrency}; "
            f"the largest single request that fits is {est.max_context_fits:,}"
        ),
    )
    yield Decision(
        topic="replicas",
        choice=str(replicas),
        reason=(
            "pinned by the request"
            if request.replicas is not None
            else f"{tier.name} tier: {tier.summary}"
        ),
    )


def capacity_warnings(
    chosen: placement.Option, replicas: int, facts: ClusterFacts | None
) -> Iterator[str]:
    pool = _pool(chosen.offer, facts)
    if pool is None:
        return
    need = chosen.gpu_count * replicas
    if pool.free_gpus is not None and need > pool.free_gpus:
        grow = " the pool can scale up" if pool.provisionable_nodes > pool.nodes else ""
        yield (
            f"{counted(replicas, 'replica')} need {need} {chosen.offer.gpu.id} GPUs; node pool "
            f"{pool.name} has {pool.free_gpus} free{';' + grow if grow else ''}."
        )
