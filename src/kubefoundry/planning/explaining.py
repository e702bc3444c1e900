"""Offers and explanations: where GPUs come from, why options lost, how to fix a misfit.

Kept apart from ``placement`` (the arithmetic) so the wording of every reason lives in one
place and the CLI and the web UI show the same sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts, NodePool
from kubefoundry.core.naming import counted
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import nodes, placement
from kubefoundry.planning.plans import Alternative, Decision
from kubefoundry.planning.tiers import Tier

SERVED_VENDORS = ("NVIDIA",)  # the vLLM CUDA image; ROCm and Gaudi images come with runtimes
_PLATFORM_OF_CLOUD = {"aws": "eks", "gcp": "gke", "azure": "aks"}


# --- offers -------------------------------------------------------------------------------


def offers(
    *,
    request: DeploymentSpec,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
    provisions: Mapping[str, frozenset[str]] | None = None,
) -> tuple[list[placement.Offer], list[Alternative]]:
    """GPU types the plan may use, and the ones it may not with the reason.

    ``provisions`` (per cloud, the instance types a pinned runtime can provision) leaves out
    that cloud's other machines.
    """
    pinned = gpus.get(request.gpu) if request.gpu else None
    if facts is not None and facts.gpu_pools():
        return _cluster_offers(request, gpus, instances, facts, pinned)
    own = request.cloud == "onprem" and request.usd_per_gpu_hour is None and pinned is None
    if own and instances.own_prices:
        return _own_offers(request, gpus, instances)
    if own:
        raise InvalidInputError(
            "On-prem GPUs have no price list, so there is nothing to rank GPU types by.",
            hint="Give what a GPU-hour costs you (`usd_per_gpu_hour` 2.5, amortised), or plan "
            "for the hardware you have: pin `gpu`, or plan against the cluster's node pools.",
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
        offer = _cloud_offer(gpu, request, instances, provisions or {})
        if offer is None:
            where = request.cloud or "any cloud in our price list"
            limited = (
                f" as an instance type {request.runtime} provisions"
                if provisions and (request.cloud is None or request.cloud in provisions)
                else ""
            )
            unavailable.append(Alternative(gpu.id, f"not offered on {where}{limited}"))
        else:
            result.append(offer)
    return result, unavailable


def _own_offers(
    request: DeploymentSpec,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
) -> tuple[list[placement.Offer], list[Alternative]]:
    """On-prem with no price in the request: the GPUs the user priced in the settings."""
    result: list[placement.Offer] = []
    unavailable: list[Alternative] = []
    for gpu in gpus.all():
        offer = _cloud_offer(gpu, request, instances, {})
        if gpu.vendor in SERVED_VENDORS and offer is not None and offer.usd_per_gpu_hour:
            result.append(offer)
        elif gpu.vendor in SERVED_VENDORS:
            unavailable.append(Alternative(gpu.id, "no on-prem price for it in the settings"))
    return result, unavailable


def _settings_price(gpu: str, usd: float | None) -> str:
    """How a plan names a price from the server's settings (PUT /api/v1/settings/gpu-prices)."""
    return f"your price for {gpu} in the settings, ${usd:g}/GPU-hour"


def _cloud_offer(
    gpu: gpu_catalog.GPU,
    request: DeploymentSpec,
    instances: instance_catalog.InstanceCatalog,
    provisions: Mapping[str, frozenset[str]],
) -> placement.Offer | None:
    if request.usd_per_gpu_hour is not None or request.cloud == "onprem":
        price, source = request.usd_per_gpu_hour, "your price"
        if price is None:
            price = instances.own_price(gpu.id)
            source = _settings_price(gpu.id, price) if price is not None else "no price"
        return placement.Offer(
            gpu=gpu,
            gpus_per_node=8,
            max_nodes=placement.MAX_NODES_PER_REPLICA,
            usd_per_gpu_hour=price,
            instance_type=None,
            cloud=request.cloud,
            source=source,
        )
    rows = [
        r
        for r in instances.for_gpu(gpu.id, cloud=request.cloud)
        if r.cloud not in provisions or r.name in provisions[r.cloud]
    ]
    if not rows:
        return None
    priced = [(r, r.usd_per_gpu_hour) for r in rows if r.usd_per_gpu_hour]
    best, best_price = min(priced, key=lambda p: p[1]) if priced else (None, None)
    # Whole machines of the cloud with the cheapest GPU-hour: the nodes a plan would add.
    cloud = best.cloud if best else rows[0].cloud
    machines = tuple(
        nodes.Machine(
            name=r.name,
            gpus=r.gpu_count,
            usd_per_hour=r.usd_per_hour,
            source=f"{r.cloud} {r.region} on-demand {r.name}, {r.price_as_of}",
        )
        for r in rows
        if r.cloud == cloud and r.usd_per_hour
    )
    return placement.Offer(
        gpu=gpu,
        gpus_per_node=max(r.gpu_count for r in rows if r.cloud == cloud),
        max_nodes=placement.MAX_NODES_PER_REPLICA,
        usd_per_gpu_hour=round(best_price, 4) if best_price else None,
        instance_type=best.name if best else rows[0].name,
        cloud=cloud,
        source=f"{best.cloud} {best.region} on-demand, {best.price_as_of}" if best else "no price",
        machines=machines,
    )


def _cluster_offers(
    request: DeploymentSpec,
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
        if price is None and instances.own_price(gpu.id) is not None:
            price = instances.own_price(gpu.id)
            source = _settings_price(gpu.id, price)
        elif price is None:
            per_gpu = instances.usd_per_gpu_hour(gpu.id, cloud=facts.cloud)
            price, source = per_gpu, f"{facts.cloud or 'cloud'} list price for {gpu.id}"
        where = f"node pool {pool.name}; {source}"
        machine = nodes.Machine(
            name=pool.instance_type,
            gpus=pool.gpus_per_node,
            usd_per_hour=None if price is None else price * pool.gpus_per_node,
            source=where,
        )
        result.append(
            placement.Offer(
                gpu=gpu,
                gpus_per_node=pool.gpus_per_node,
                max_nodes=max(1, pool.provisionable_nodes),
                usd_per_gpu_hour=price,
                instance_type=pool.instance_type,
                cloud=facts.cloud,
                source=where,
                machines=(machine,),
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


# The label each platform puts on every node of a node pool, naming the pool: stable for the
# pool's life, unlike its instance size or node image.
POOL_NAME_LABELS = (
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "kubernetes.azure.com/agentpool",
)
# Labels that describe today's node (its shape, image, lifecycle, place), never what a pod
# needs: a selector on them pins the pods to nodes a pool replaces when it changes shape.
_NODE_SHAPE = re.compile(
    r"^(beta\.kubernetes\.io/|failure-domain\.beta\.kubernetes\.io/|kubernetes\.io/"
    r"|node\.kubernetes\.io/|topology\.kubernetes\.io/|karpenter\.sh/(?!capacity-type$)"
    r"|karpenter\.k8s\.aws/instance-(?!gpu-name$|gpu-memory$)|cloud\.google\.com/gke-os"
    r"|cloud\.google\.com/gke-boot|cloud\.google\.com/machine-family"
    r"|kubernetes\.azure\.com/(?!agentpool$|accelerator$))"
)


def gpu_labels(gpu: gpu_catalog.GPU) -> set[tuple[str, str]]:
    """Every (key, value) some platform labels a node with ``gpu`` by (variants included)."""
    out = {(k, v) for labels in gpu.node_labels.values() for k, v in labels.items()}
    for platform, variants in gpu.label_variants.items():
        for key in gpu.node_labels.get(platform) or {}:
            out |= {(key, v) for v in variants}
    return out


def pool_selector(
    pool: NodePool, gpu: gpu_catalog.GPU, *, others: Iterable[gpu_catalog.GPU] = ()
) -> dict[str, str]:
    """What to select a pool's nodes by: the GPU labels they carry, plus the pool's name where
    another GPU shares those labels (AKS labels every NVIDIA node ``accelerator: nvidia``).
    Nothing else the nodes happen to share (instance size, node image, deprecated ``beta.``
    labels, Karpenter's lifecycle marks): those pin the pods to today's node shape.
    A pool with no GPU label our catalog knows keeps what its nodes share, less those."""
    known = gpu_labels(gpu)
    chosen = {k: v for k, v in pool.labels.items() if (k, v) in known}
    named = {k: pool.labels[k] for k in POOL_NAME_LABELS if k in pool.labels}
    if not chosen:
        return named or {k: v for k, v in pool.labels.items() if not _NODE_SHAPE.match(k)}
    shared = any(set(chosen.items()) <= gpu_labels(o) for o in others if o.id != gpu.id)
    return {**chosen, **named} if shared else chosen


def node_selector(
    offer: placement.Offer,
    platform: str,
    facts: ClusterFacts | None,
    *,
    gpus: gpu_catalog.GpuCatalog | None = None,
) -> dict[str, str]:
    pool = _pool(offer, facts)
    if pool is not None and pool.labels:
        return pool_selector(pool, offer.gpu, others=gpus.gpus if gpus else ())
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
        f"{short.kv_cache_gib:.1f} KV cache for {counted(short.requests, 'request')} of "
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


def why_not(
    option: placement.Option,
    chosen: placement.Option,
    tier: Tier,
    cheapest: float | None = None,
) -> str:
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
            f"does not fit: {gib(short.per_gpu_gib)} GiB short per GPU for "
            f"{counted(short.requests, 'request')} of {short.context:,} tokens (needs "
            f"{short.needed_gib:.1f} GiB, vLLM may "
            f"use {short.budget_gib:.1f})"
        )
    if chosen.fits_target and not option.fits_target:
        return f"shorter context: fits {option.context:,} tokens, the pick {chosen.context:,}"
    if chosen.meets_targets and not option.meets_targets:
        missed = option.serving.capacity.missed if option.serving else None
        return f"misses the latency target even with one request at a time: {missed}"
    mine = option.usd_per_hour
    premium = placement.LATENCY_PREMIUM
    over = mine is not None and cheapest is not None and mine > cheapest * premium + 1e-9
    if tier.objective == "latency" and over:
        return (
            f"costs more than {premium:g}× the cheapest option that meets the targets: "
            f"{money(mine)}{_replicas(option)} vs {money(cheapest)}"
        )
    if tier.objective == "cost":
        reason = _cost_reason(option, chosen)
    elif tier.objective == "balanced":
        reason = _balanced_reason(option, chosen)
    else:
        reason = _speed_reason(option, chosen)
    return reason or _tie_reason(option, chosen)


def _replicas(option: placement.Option) -> str:
    if option.serving is None:
        return ""
    n = option.serving.sizing.replicas
    return f" for {counted(n, 'replica')} on {option.serving.nodes.describe()}"


def _cost_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    mine, theirs = option.usd_per_hour, chosen.usd_per_hour
    if mine is None and theirs is not None:
        return "no price, so it cannot be compared on $/hour"
    if mine is not None and theirs is not None and mine > theirs:
        return f"costs more: {money(mine)}{_replicas(option)} vs {money(theirs)} for the pick"
    return None


def _latency_text(option: placement.Option) -> str:
    if option.serving is None:
        return "no speed figure"
    got = option.serving.sizing.per_replica
    return (
        f"{option.request_latency_s:.1f} s per request (TTFT {got.ttft_s * 1000:,.0f} ms, "
        f"TPOT {got.tpot_s * 1000:.1f} ms)"
    )


def _balanced_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    """The balanced order: price in 10 % steps, then speed in 10 % steps, then price."""
    mine, theirs = option.usd_per_hour, chosen.usd_per_hour
    if mine is None or theirs is None:
        return _cost_reason(option, chosen)
    same_price = placement.price_bucket(mine) == placement.price_bucket(theirs)
    if not same_price and mine > theirs:
        return _cost_reason(option, chosen)
    if same_price and placement.latency_bucket(option) > placement.latency_bucket(chosen):
        return (
            f"slower at about the same price (within 10 %): {_latency_text(option)} vs "
            f"{_latency_text(chosen)} for the pick"
        )
    return _cost_reason(option, chosen)


def _speed_reason(option: placement.Option, chosen: placement.Option) -> str | None:
    if placement.latency_bucket(option) > placement.latency_bucket(chosen):
        return f"slower: {_latency_text(option)} vs {_latency_text(chosen)} for the pick"
    cost = _cost_reason(option, chosen)
    if cost:
        return f"{cost}; as fast as the pick (within 10 %)"
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
    request: DeploymentSpec,
) -> Iterator[Decision]:
    others = [o for o in best_per_gpu(options, tier) if o.offer.gpu.id != chosen.offer.gpu.id]
    pool = [o for o in options if o.fits_target] or [o for o in options if o.fits_floor]
    cheapest = placement.cheapest_price(pool)
    same_gpu = [o for o in options if o.offer.gpu.id == chosen.offer.gpu.id and o is not chosen]
    objective = {
        "cost": "the lowest $/hour for the replicas the peak needs",
        "balanced": "the lowest $/hour for the replicas the peak needs (the faster of two "
        "options within 10 % of each other's price)",
        "latency": "the fastest requests at the peak (the cheaper of two options within 10 % "
        "of each other's speed)",
    }[tier.objective]
    yield Decision(
        topic="gpu",
        choice=f"{chosen.offer.gpu.id} ({chosen.offer.source})",
        reason=(
            "pinned by the request"
            if request.gpu
            else f"{tier.name} tier picks {objective} among options that fit and meet the "
            "latency targets"
        ),
        alternatives=tuple(
            [Alternative(describe(o), why_not(o, chosen, tier, cheapest)) for o in others]
            + list(unavailable)
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
            Alternative(describe(o), why_not(o, chosen, tier, cheapest))
            for o in sorted(same_gpu, key=lambda o: o.gpu_count)[:6]
        ),
    )
    est = chosen.estimate
    traffic = sizing.traffic
    typical = f"; a p90 request of the workload is {traffic.longest_typical:,}" if traffic else ""
    yield Decision(
        topic="context",
        choice=f"max_model_len {chosen.context:,}",
        reason=(
            "pinned by the request"
            if request.context_length
            else f"the longest single request the deployment accepts{typical}"
        )
        + f"; {est.kv_tokens:,} KV tokens hold {est.max_concurrency:.1f} requests this long "
        f"(the largest single request that fits is {est.max_context_fits:,})",
    )
    yield Decision(
        topic="replicas",
        choice=str(replicas),
        reason=(
            "pinned by the request"
            if request.replicas is not None
            else _replicas_reason(tier, chosen, replicas)
        ),
    )


def _replicas_reason(tier: Tier, chosen: placement.Option, replicas: int) -> str:
    serving = chosen.serving
    if serving is None:
        return f"{tier.name} tier: {tier.summary}"
    sized, cap = serving.sizing, serving.capacity
    text = (
        f"the peak ({serving.traffic.describe().split('peak ')[-1]}) needs "
        f"{counted(sized.needed, 'replica')}: one carries {cap.requests_per_s:.2f} requests/s "
        f"within the targets (bounded by {cap.limit}), planned at {tier.load_share:.0%} of that"
    )
    if tier.spare_replicas:
        text += f", plus {counted(tier.spare_replicas, 'spare')}"
    if tier.replicas > sized.needed + tier.spare_replicas:
        text += f"; the {tier.name} tier keeps at least {tier.replicas} for availability"
    return text


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
