"""Rejected options say why they lost first, and never read as the better choice.

Over every plan of the catalog (every model × tier, and every GPU pinned at its best count),
each alternative the planner lists for the GPU and the GPU count starts with the reason it was
rejected. Where two figures stand side by side ("A vs B for the pick"), the rejected one is
the worse on that figure: dearer, slower, shorter or with more GPUs.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.planning import explaining, placement, planner, tiers
from kubefoundry.planning.plans import Alternative, Plan
from kubefoundry.planning.request import DeploymentRequest

CATALOG = models.ModelCatalog.load()
GPUS = gpus.load()
INSTANCES = instances.load()
REASONS = (
    "cannot run: ",
    "does not fit: ",
    "shorter context: ",
    "costs more",
    "no price, ",
    "slower decode",
    "quantized weights (",
    "more GPUs (",
    "shorter context (",
    "ties with the pick",
)
NUMBER = r"\$?([\d,]+(?:\.\d+)?)"
# (pattern, True when the rejected figure must be the larger)
COMPARISONS = (
    (rf"costs more: {NUMBER}/h vs {NUMBER}/h for the pick", True),
    (rf"costs more per 1M output tokens: {NUMBER} vs {NUMBER} for the pick", True),
    (rf"slower decode: {NUMBER} tokens/s per request vs {NUMBER} for the pick", False),
    (rf"shorter context: fits {NUMBER} tokens, the pick {NUMBER}", False),
    (rf"more GPUs \({NUMBER} vs {NUMBER}\)", True),
)


@functools.cache
def _plans() -> tuple[tuple[str, Plan], ...]:
    return tuple(_planned())


def _planned() -> Iterator[tuple[str, Plan]]:
    for entry in CATALOG.all():
        for tier in tiers.all_tiers():
            request = DeploymentRequest(model=entry.id, tier=tier.name)
            try:
                yield (
                    f"{entry.id}/{tier.name}",
                    planner.plan(request, entry, gpus=GPUS, instances=INSTANCES),
                )
            except DoesNotFitError:
                continue


def _alternatives(plan: Plan) -> Iterator[Alternative]:
    for decision in plan.decisions:
        if decision.topic in ("gpu", "gpu_count"):
            yield from (a for a in decision.alternatives if "×" in a.option)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_every_rejected_option_states_its_reason_first_and_is_not_better() -> None:
    checked = 0
    for where, plan in _plans():
        for alt in _alternatives(plan):
            assert alt.why_not.startswith(REASONS), f"{where}: {alt.option}: {alt.why_not}"
            for pattern, rejected_is_larger in COMPARISONS:
                found = re.search(pattern, alt.why_not)
                if found:
                    mine, theirs = _number(found[1]), _number(found[2])
                    assert (mine > theirs) if rejected_is_larger else (mine < theirs), (
                        f"{where}: {alt.option}: {alt.why_not}"
                    )
            checked += 1
    assert checked > 500


def test_fp8_at_the_same_price_is_rejected_for_its_quantization_not_its_speed() -> None:
    """Was "24 tokens/s per request vs 14, $0.71/h": as if the rejected option were better."""
    entry = CATALOG.get("llama-3.1-8b")
    plan = planner.plan(
        DeploymentRequest(model=entry.id, tier="good"), entry, gpus=GPUS, instances=INSTANCES
    )
    (count,) = (d for d in plan.decisions if d.topic == "gpu_count")
    fp8 = next(a for a in count.alternatives if a.option == "1×L4 (TP1×PP1, fp8, KV fp8)")
    assert fp8.why_not == "quantized weights (fp8) where native weights fit at the same cost"
    assert "tokens/s" not in fp8.why_not


def test_figures_measured_at_different_contexts_are_not_set_side_by_side() -> None:
    """Two options that both fit only the floor, at different contexts (balanced, latency)."""
    arch = CATALOG.get("llama-3.1-8b").arch
    sizing = placement.Sizing(
        target_context=32768,
        floor_context=16384,
        min_concurrency=8,
        gpu_memory_utilization=0.9,
        vllm_version="0.19.0",
        utilisation_for_cost=0.5,
    )
    offers, _ = explaining.offers(
        request=DeploymentRequest(model="llama-3.1-8b", gpu="L4"),
        gpus=GPUS,
        instances=INSTANCES,
        facts=None,
    )
    (offer,) = offers
    one, two = (
        placement.evaluate(
            arch, offer=offer, count=n, sizing=sizing, quantization=None, kv_cache_dtype="auto"
        )
        for n in (1, 2)
    )
    # The pick fits only the floor; the other is dearer and slower at a longer context.
    chosen = dataclasses.replace(one, fits_target=False, context=16384)
    other = dataclasses.replace(two, fits_target=False, context=32768)
    balanced = explaining.why_not(other, chosen, tiers.get("better"))
    assert balanced.startswith("costs more per 1M output tokens ($")
    assert "measured at 32,768 tokens of context" in balanced
    assert " vs " not in balanced
    at_same_context = dataclasses.replace(other, context=16384)
    same = explaining.why_not(at_same_context, chosen, tiers.get("better"))
    assert " vs " in same
    assert same.endswith("for the pick")
