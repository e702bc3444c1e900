"""``plan(request, model, …) -> Plan``: the planner's one entry point.

Reads the request's pins and the tier's policy, builds the offers (GPU types the cluster has
or the cloud sells, with prices), sizes every option with the memory model, picks one by the
tier's objective and records every decision with the options it turned down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.catalog.architecture import Quantization
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.naming import dns_label
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.core.units import GIB
from kubefoundry.planning import (
    engine_profiles,
    explaining,
    fixing,
    memory,
    misfits,
    placement,
    precision,
    probes,
    tiers,
    workloads,
)
from kubefoundry.planning.plans import Alternative, Autoscaling, Cost, Performance, Plan


def plan(
    request: DeploymentSpec,
    model: ModelEntry,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None = None,
    provisions: Mapping[str, frozenset[str]] | None = None,
) -> Plan:
    """The plan for ``request``; a misfit raises ``DoesNotFitError`` with fixes that plan.

    ``provisions``: per cloud, the only instance types the pinned runtime can provision
    (KAITO on Azure); machines of other types on that cloud are not offered.
    """
    longest = model.arch.max_position_embeddings
    if request.context_length and request.context_length > longest:
        raise InvalidInputError(
            f"context_length {request.context_length:,} is longer than {model.id} accepts "
            f"({longest:,} tokens, its max_position_embeddings).",
            hint=f"Ask for `context_length` {longest} or less.",
        )
    outcome = attempt(
        request, model, gpus=gpus, instances=instances, facts=facts, provisions=provisions
    )
    if isinstance(outcome, Plan):
        return outcome
    found = fixing.find(
        outcome,
        gpus=gpus,
        instances=instances,
        facts=facts,
        attempt=lambda changed: attempt(
            changed, model, gpus=gpus, instances=instances, facts=facts, provisions=provisions
        ),
    )
    raise misfits.error(outcome, found)


def attempt(
    request: DeploymentSpec,
    model: ModelEntry,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None = None,
    provisions: Mapping[str, frozenset[str]] | None = None,
) -> Plan | misfits.Misfit:
    """One planning pass: the plan, or what was tried when nothing fits (no fixes searched)."""
    tier = tiers.get(request.tier)
    arch = model.arch
    quant = precision.resolve_quantization(request.quantization, arch)
    traffic = workloads.resolve(request.workload, tier)
    target = request.context_length or _default_context(tier, traffic, arch.max_position_embeddings)
    sizing = placement.Sizing(
        target_context=target,
        floor_context=target
        if request.context_length
        else min(tier.floor_context(arch.max_position_embeddings), target),
        min_concurrency=1,
        gpu_memory_utilization=tier.gpu_memory_utilization,
        vllm_version=request.vllm_version or engine_profiles.DEFAULT_VLLM_VERSION,
        utilisation_for_cost=tier.utilisation_for_cost,
        traffic=traffic,
        load_share=tier.load_share,
        min_replicas=tier.replicas,
        spare_replicas=tier.spare_replicas,
        pinned_replicas=request.replicas,
    )
    offers, unavailable = explaining.offers(
        request=request, gpus=gpus, instances=instances, facts=facts, provisions=provisions
    )
    options: list[placement.Option] = []
    for offer in offers:
        for variant_quant, kv_dtype in _variants(request, tier, offer, quant):
            fitted = 0
            for count in placement.gpu_counts(offer, request.gpu_count):
                option = placement.evaluate(
                    arch,
                    offer=offer,
                    count=count,
                    sizing=sizing,
                    quantization=variant_quant,
                    kv_cache_dtype=kv_dtype,
                )
                options.append(option)
                fitted += option.fits_target
                if fitted == 2:  # the smallest count that fits, and one doubling to compare
                    break
    chosen = placement.choose(options, tier)
    if chosen is not None and not chosen.meets_targets:
        _unmeetable(request, traffic, options)
    if chosen is None:
        return misfits.Misfit(
            request=request,
            model=model,
            sizing=sizing,
            options=tuple(options),
            unavailable=tuple(unavailable),
        )
    return _assemble(request, model, tier, sizing, chosen, options, unavailable, facts, gpus)


def _default_context(tier: tiers.Tier, traffic: workloads.Traffic, model_max: int) -> int:
    """The tier's context, raised to the next power of two that takes a p90 request."""
    target = tier.target_context(model_max)
    need = traffic.longest_typical
    while target < need and target < model_max:
        target *= 2
    return min(target, model_max)


def _unmeetable(
    request: DeploymentSpec, traffic: workloads.Traffic, options: list[placement.Option]
) -> None:
    """No option meets the latency targets the request set: say the best that can be done.

    Targets that came from the workload profile are not refused: the plan goes ahead with
    the fastest option and says which target it misses.
    """
    own = request.workload
    targets = (own.ttft_ms, own.tpot_ms, own.ttft_p95_ms, own.tpot_p95_ms)
    if all(t is None for t in targets):
        return
    served = [o for o in options if o.serving is not None and not o.problems]
    if not served:
        return
    best_ttft = min(served, key=lambda o: o.serving.capacity.alone.ttft_s)  # type: ignore[union-attr]
    best_tpot = min(served, key=lambda o: o.serving.capacity.alone.tpot_s)  # type: ignore[union-attr]
    ttft = best_ttft.serving.capacity.alone.ttft_s * 1000  # type: ignore[union-attr]
    tpot = best_tpot.serving.capacity.alone.tpot_s * 1000  # type: ignore[union-attr]
    parts = []
    if own.ttft_ms is not None and ttft > own.ttft_ms:
        parts.append(
            f"ttft_ms {own.ttft_ms:g}: the fastest first token is {ttft:,.0f} ms, on "
            f"{explaining.describe(best_ttft)} with one request at a time"
        )
    if own.tpot_ms is not None and tpot > own.tpot_ms:
        parts.append(
            f"tpot_ms {own.tpot_ms:g}: the fastest is {tpot:,.1f} ms per output token, on "
            f"{explaining.describe(best_tpot)} with one request at a time"
        )
    if not parts:
        missed = best_ttft.serving.capacity.missed  # type: ignore[union-attr]
        parts.append(
            "no option meets every target at once; the fastest, "
            f"{explaining.describe(best_ttft)}, with one request at a time: {missed} "
            f"(mean TTFT {ttft:,.0f} ms, TPOT {tpot:,.1f} ms at best)"
        )
    raise InvalidInputError(
        "No GPU option meets the latency target: " + "; ".join(parts) + ".",
        hint="Relax `workload.ttft_ms`/`workload.tpot_ms` (or their p95 targets), shorten "
        "`workload.input_tokens`, or allow more GPUs per replica (`gpu_count`) or another "
        "GPU (`gpu`).",
    )


def _variants(
    request: DeploymentSpec,
    tier: tiers.Tier,
    offer: placement.Offer,
    base_quant: Quantization | None,
) -> list[tuple[Quantization | None, memory.KvCacheDtype]]:
    """Numeric-format variants worth sizing on this GPU under the tier's policy."""
    kv: memory.KvCacheDtype = "auto"
    if request.kv_cache_dtype is not None:
        kv = request.kv_cache_dtype
    elif tier.kv_cache_dtype == "fp8-if-supported" and offer.gpu.fp8_supported:
        kv = "fp8"
    variants = [(base_quant, kv)]
    if (
        request.quantization is None
        and base_quant is None
        and tier.allow_quantization == "fp8"
        and offer.gpu.fp8_supported
    ):
        variants.append((Quantization(method="fp8", bits=8), kv))
    return variants


def _assemble(
    request: DeploymentSpec,
    model: ModelEntry,
    tier: tiers.Tier,
    sizing: placement.Sizing,
    chosen: placement.Option,
    options: list[placement.Option],
    unavailable: list[Alternative],
    facts: ClusterFacts | None,
    gpus: gpu_catalog.GpuCatalog,
) -> Plan:
    offer = chosen.offer
    serving = chosen.serving
    assert serving is not None  # a chosen option has a KV cache, so it was sized
    sized, cap, placed = serving.sizing, serving.capacity, serving.nodes
    replicas = sized.replicas
    warnings = list(explaining.capacity_warnings(chosen, replicas, facts))
    if not chosen.fits_target:
        warnings.append(
            f"No option takes a {sizing.target_context:,}-token request; planned for "
            f"{chosen.context:,} tokens instead."
        )
    traffic = serving.traffic
    if chosen.context < traffic.longest_typical:
        warnings.append(
            f"max_model_len {chosen.context:,} is below a p90 request of this workload "
            f"({traffic.longest_typical:,} tokens): the longest tenth of requests will be refused."
        )
    if not cap.meets_targets:
        warnings.append(
            f"No option meets the {traffic.profile} profile's targets ({traffic.targets()}); "
            f"this is the fastest: {cap.missed} with one request at a time."
        )
    if request.replicas is not None and request.replicas < sized.needed:
        warnings.append(
            f"{request.replicas} pinned replicas are fewer than the {sized.needed} the peak needs "
            "within the targets: expect queueing at the peak."
        )
    # A gated model's token line comes with the runtime (runtimes.choosing.token_warning):
    # only the runtime knows the Secret key its objects read and where the Secret comes from.
    model_bytes = chosen.estimate.weights_gib * GIB * chosen.gpu_count
    total = placed.usd_per_hour
    cost = Cost(
        usd_per_hour_replica=round(total / replicas, 2) if total is not None else None,
        usd_per_hour_total=round(total, 2) if total is not None else None,
        usd_per_million_tokens=serving.prices.output,
        usd_per_million_input_tokens=serving.prices.input,
        usd_per_million_output_tokens=serving.prices.output,
        usd_per_million_input_tokens_busy=serving.prices_full.input,
        usd_per_million_output_tokens_busy=serving.prices_full.output,
        utilisation=tier.utilisation_for_cost,
        instance_type=placed.instance_type or offer.instance_type,
        nodes_per_replica=placed.nodes_per_replica,
        nodes=placed.nodes,
        gpus_per_machine=placed.machine.gpus,
        idle_gpus=placed.idle_gpus,
        cloud=offer.cloud,
        price_source=placed.machine.source if placed.machine.name else offer.source,
    )
    mode = _performance_mode(tier, sizing.vllm_version)
    at_peak = sized.per_replica
    performance = Performance(
        workload=traffic.describe(),
        targets=traffic.targets(),
        assumed=traffic.assumed,
        performance_mode=mode,
        replicas_needed=sized.needed,
        peak_requests_per_s=round(sized.peak_requests_per_s, 3),
        capacity_requests_per_s=round(cap.requests_per_s, 3),
        capacity_concurrency=round(cap.concurrency, 1),
        load_share=tier.load_share,
        limit=cap.limit,
        meets_targets=cap.meets_targets,
        requests_per_s=round(at_peak.requests_per_s, 3),
        output_tokens_per_s=round(at_peak.output_tokens_per_s, 1),
        input_tokens_per_s=round(at_peak.requests_per_s * traffic.input_tokens, 1),
        ttft_ms=round(at_peak.ttft_s * 1000, 1),
        tpot_ms=round(at_peak.tpot_s * 1000, 2),
        ttft_p95_ms=round(sized.tail.ttft_s * 1000, 1),
        tpot_p95_ms=round(sized.tail.tpot_s * 1000, 2),
        ttft_ms_alone=round(cap.alone.ttft_s * 1000, 1),
        tpot_ms_alone=round(cap.alone.tpot_s * 1000, 2),
        output_tokens_per_s_saturated=round(cap.saturated.output_tokens_per_s, 1),
        prefill_share=round(serving.prefill_share, 3),
    )
    # Requests running per replica at the planned share of its in-target load: past it, a
    # replica's latency leaves the targets, so the scaler adds one.
    target = float(max(1, math.floor(cap.concurrency * tier.load_share)))
    autoscaling = Autoscaling(
        signal="vllm:num_requests_running",
        target=target,
        min_replicas=0 if tier.scale_to_zero else max(1, replicas),
        max_replicas=max(replicas, tier.max_replicas, 2 * sized.needed + tier.spare_replicas),
        scale_to_zero=tier.scale_to_zero,
        cooldown_s=600 if tier.scale_to_zero else 300,
    )
    platform = explaining.platform_for(offer.cloud, facts)
    return Plan(
        name=request.name or dns_label(model.id),
        namespace=request.namespace,
        model_id=model.id,
        model_name=model.name,
        gated=model.gated,
        hf_token_secret=request.hf_token_secret,
        tier=tier.name,
        engine="vllm",
        engine_version=sizing.vllm_version,
        runtime=request.runtime,
        gpu=offer.gpu.id,
        gpu_resource=offer.gpu.resource_name,
        gpu_count=chosen.gpu_count,
        gpus_per_node=offer.gpus_per_node,
        tensor_parallel=chosen.tp,
        pipeline_parallel=chosen.pp,
        nodes_per_replica=placed.nodes_per_replica,
        replicas=replicas,
        max_model_len=chosen.context,
        dtype=chosen.dtype,
        quantization=chosen.quantization.method if chosen.quantization else None,
        quantize_at_load=chosen.quantization is not None and model.arch.quantization is None,
        kv_cache_dtype=chosen.kv_cache_dtype,
        gpu_memory_utilization=sizing.gpu_memory_utilization,
        prefix_caching=tier.prefix_caching,
        performance_mode=mode,
        memory=chosen.estimate,
        performance=performance,
        cost=cost,
        probes=probes.plan_probes(model_bytes=model_bytes),
        autoscaling=autoscaling,
        node_selector=explaining.node_selector(offer, platform, facts, gpus=gpus),
        tolerations=explaining.tolerations(offer, platform, facts),
        decisions=tuple(
            explaining.decisions(
                tier=tier,
                sizing=sizing,
                chosen=chosen,
                options=options,
                unavailable=unavailable,
                replicas=replicas,
                request=request,
            )
        ),
        warnings=tuple(warnings),
    )


def _performance_mode(tier: tiers.Tier, vllm_version: str) -> str | None:
    """The tier's vLLM ``--performance-mode``; None where the release has none (before 0.17)
    or the tier's mode is the engine's default (balanced)."""
    if tier.performance_mode == "balanced":
        return None
    if engine_profiles.parse_version(vllm_version) < (0, 17, 0):
        return None
    return tier.performance_mode
