"""``plan(request, model, …) -> Plan``: the planner's one entry point.

Reads the request's pins and the tier's policy, builds the offers (GPU types the cluster has
or the cloud sells, with prices), sizes every option with the memory model, picks one by the
tier's objective and records every decision with the options it turned down.
"""

from __future__ import annotations

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.catalog.architecture import Quantization
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.naming import dns_label
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
)
from kubefoundry.planning.plans import Alternative, Autoscaling, Cost, Plan
from kubefoundry.planning.request import DeploymentRequest


def plan(
    request: DeploymentRequest,
    model: ModelEntry,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None = None,
) -> Plan:
    """The plan for ``request``; a misfit raises ``DoesNotFitError`` with fixes that plan."""
    longest = model.arch.max_position_embeddings
    if request.context_length and request.context_length > longest:
        raise InvalidInputError(
            f"context_length {request.context_length:,} is longer than {model.id} accepts "
            f"({longest:,} tokens, its max_position_embeddings).",
            hint=f"Ask for --context-length {longest} or less.",
        )
    outcome = attempt(request, model, gpus=gpus, instances=instances, facts=facts)
    if isinstance(outcome, Plan):
        return outcome
    found = fixing.find(
        outcome,
        gpus=gpus,
        instances=instances,
        facts=facts,
        attempt=lambda changed: attempt(
            changed, model, gpus=gpus, instances=instances, facts=facts
        ),
    )
    raise misfits.error(outcome, found)


def attempt(
    request: DeploymentRequest,
    model: ModelEntry,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None = None,
) -> Plan | misfits.Misfit:
    """One planning pass: the plan, or what was tried when nothing fits (no fixes searched)."""
    tier = tiers.get(request.tier)
    arch = model.arch
    quant = precision.resolve_quantization(request.quantization, arch)
    target = request.context_length or tier.target_context(arch.max_position_embeddings)
    sizing = placement.Sizing(
        target_context=target,
        floor_context=target
        if request.context_length
        else tier.floor_context(arch.max_position_embeddings),
        min_concurrency=tier.min_concurrency,
        gpu_memory_utilization=tier.gpu_memory_utilization,
        vllm_version=request.vllm_version or engine_profiles.DEFAULT_VLLM_VERSION,
        utilisation_for_cost=tier.utilisation_for_cost,
    )
    offers, unavailable = explaining.offers(
        request=request, gpus=gpus, instances=instances, facts=facts
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
    if chosen is None:
        return misfits.Misfit(
            request=request,
            model=model,
            sizing=sizing,
            options=tuple(options),
            unavailable=tuple(unavailable),
        )
    return _assemble(request, model, tier, sizing, chosen, options, unavailable, facts)


def _variants(
    request: DeploymentRequest,
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
    request: DeploymentRequest,
    model: ModelEntry,
    tier: tiers.Tier,
    sizing: placement.Sizing,
    chosen: placement.Option,
    options: list[placement.Option],
    unavailable: list[Alternative],
    facts: ClusterFacts | None,
) -> Plan:
    offer = chosen.offer
    replicas = request.replicas if request.replicas is not None else tier.replicas
    warnings = list(explaining.capacity_warnings(chosen, replicas, facts))
    if not chosen.fits_target:
        warnings.append(
            f"No option fits {sizing.min_concurrency} requests at {sizing.target_context:,} "
            f"tokens; planned for {chosen.context:,} tokens instead."
        )
    # A gated model's token line comes with the runtime (runtimes.choosing.token_warning):
    # only the runtime knows the Secret key its objects read and where the Secret comes from.
    model_bytes = chosen.estimate.weights_gib * GIB * chosen.gpu_count
    price = chosen.usd_per_hour
    cost = Cost(
        usd_per_hour_replica=price,
        usd_per_hour_total=round(price * replicas, 2) if price is not None else None,
        usd_per_million_tokens=chosen.usd_per_million_tokens,
        utilisation=tier.utilisation_for_cost,
        instance_type=offer.instance_type,
        nodes_per_replica=chosen.nodes,
        cloud=offer.cloud,
        price_source=offer.source,
    )
    autoscaling = Autoscaling(
        signal="vllm:num_requests_waiting",
        target=4.0,
        min_replicas=0 if tier.scale_to_zero else max(1, replicas),
        max_replicas=max(replicas, tier.max_replicas),
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
        nodes_per_replica=chosen.nodes,
        replicas=replicas,
        max_model_len=chosen.context,
        dtype=chosen.dtype,
        quantization=chosen.quantization.method if chosen.quantization else None,
        quantize_at_load=chosen.quantization is not None and model.arch.quantization is None,
        kv_cache_dtype=chosen.kv_cache_dtype,
        gpu_memory_utilization=sizing.gpu_memory_utilization,
        prefix_caching=tier.prefix_caching,
        memory=chosen.estimate,
        speed=chosen.speed,
        cost=cost,
        probes=probes.plan_probes(model_bytes=model_bytes),
        autoscaling=autoscaling,
        node_selector=explaining.node_selector(offer, platform, facts),
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
