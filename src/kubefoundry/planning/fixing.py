"""Fixes for a request that does not fit, each one planned before it is offered.

A fix is a change to the request's fields, the ones the command-line flags and the API set.
The search changes the request the way a person would and re-runs the planner on every
changed request; a change is offered only when the changed request plans.

Levers that keep a pinned GPU type, each an ordered list of values, smallest change first:

* GPUs per replica, when the request pins a count: 1, 2, 4 … up to what one replica can
  have; the fewest that plan.
* Precision: an FP8 KV cache, FP8 weights, then both (FP8-capable GPUs, unquantized
  checkpoints, and only what the tier does not already try on its own).
* Context: halvings of the context floor down to ``MIN_CONTEXT``; the longest that plans.

Every lever only ever adds room, so the search first plans all of them at their most
permissive value: when even that does not fit, nothing that keeps the GPU can, and the
message says so and why. Otherwise each lever is tried alone, then in pairs (where one of the
two found nothing alone), then all together (where nothing was found yet). A pinned GPU that
is not sold where the request looks is first moved to a cloud that sells it, or on-prem.

Then, for a pinned GPU, another GPU type: the planner's own pick with the GPU (and count)
pins dropped, written out as the GPU and count it chose. Last, when nothing else plans, a
lighter tier.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from kubefoundry.catalog import gpus as gpu_catalog
from kubefoundry.catalog import instances as instance_catalog
from kubefoundry.core.errors import PermanentError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import explaining, misfits, placement, tiers
from kubefoundry.planning.plans import Plan

MIN_CONTEXT = 2048  # the shortest context offered as a fix; shorter serves few real prompts
MAX_KEEPING = 3  # fixes that keep the pinned GPU, at most
Changes = dict[str, object]
Attempt = Callable[[DeploymentSpec], Plan | misfits.Misfit]
Lever = tuple[Changes, ...]  # values, smallest change first; the last is the most permissive


def find(
    misfit: misfits.Misfit,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
    attempt: Attempt,
) -> misfits.Fixes:
    request = misfit.request
    tried = _Tried(request, attempt, gpus)
    bases, note = _bases(request, gpus=gpus, instances=instances, facts=facts)
    keeping: list[misfits.Fix] = []
    for base in bases:
        levers = _levers(misfit, base, gpus=gpus, instances=instances, facts=facts)
        keeping, note = _search(base, levers, tried)
        if keeping:
            break
    found = _best(keeping)[:MAX_KEEPING]
    if request.gpu:
        found += _other_gpu(misfit, tried, exhaustive=not found)
    if not found:
        found = _lighter_tier(request, tried)
    return misfits.Fixes(
        found=tuple(found),
        pinned_gpu_note=note if request.gpu and not keeping else None,
        tried=_what_was_tried(request),
    )


class _Tried:
    """The planner on changed requests, each change planned once."""

    def __init__(
        self, request: DeploymentSpec, attempt: Attempt, gpus: gpu_catalog.GpuCatalog
    ) -> None:
        self.request = request
        self._attempt = attempt
        self._gpus = gpus
        self._seen: dict[tuple[tuple[str, str], ...], Plan | misfits.Misfit | None] = {}

    def __call__(self, changes: Changes) -> Plan | misfits.Misfit | None:
        key = tuple(sorted((k, repr(v)) for k, v in changes.items()))
        if key not in self._seen:
            try:
                self._seen[key] = self._attempt(misfits.apply(self.request, changes))
            except PermanentError:  # e.g. a quantization the checkpoint cannot take
                self._seen[key] = None
        return self._seen[key]

    def plan(self, changes: Changes) -> Plan | None:
        outcome = self(changes)
        if not isinstance(outcome, Plan):
            return None
        uses_fp8 = "fp8" in (changes.get("quantization"), changes.get("kv_cache_dtype"))
        if uses_fp8 and not self._gpus.get(outcome.gpu).fp8_supported:
            return None  # the tiers' rule: FP8 only where the GPU has FP8
        return outcome


# --- where the pinned GPU can be had ------------------------------------------------------


def _bases(
    request: DeploymentSpec,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
) -> tuple[list[Changes], str | None]:
    """Changes the others build on: none, or a cloud that sells the pinned GPU."""
    offers, unavailable = explaining.offers(
        request=request, gpus=gpus, instances=instances, facts=facts
    )
    if offers or not request.gpu:
        return [{}], None
    why = "; ".join(a.why_not for a in unavailable)
    gpu = gpus.get(request.gpu)
    if gpu.vendor not in explaining.SERVED_VENDORS or (facts and facts.gpu_pools()):
        return [], why
    clouds: list[Changes] = [
        {"cloud": c}
        for c in instances.clouds()
        if c != request.cloud and instances.for_gpu(gpu.id, cloud=c)
    ]
    if request.cloud != "onprem":
        clouds.append({"cloud": "onprem"})
    return clouds, why


# --- levers that keep the GPU -------------------------------------------------------------


def _levers(
    misfit: misfits.Misfit,
    base: Changes,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
) -> list[Lever]:
    request = misfits.apply(misfit.request, base)
    levers = [
        _counts(request, gpus=gpus, instances=instances, facts=facts),
        _precisions(misfit, fp8_gpu=not request.gpu or gpus.get(request.gpu).fp8_supported),
        _contexts(misfit),
    ]
    return [lever for lever in levers if lever]


def _counts(
    request: DeploymentSpec,
    *,
    gpus: gpu_catalog.GpuCatalog,
    instances: instance_catalog.InstanceCatalog,
    facts: ClusterFacts | None,
) -> Lever:
    """GPUs per replica, fewest first, up to what one replica can have (pinned counts only)."""
    if request.gpu_count is None:
        return ()
    offers, _ = explaining.offers(request=request, gpus=gpus, instances=instances, facts=facts)
    limit = max(
        (o.gpus_per_node * min(o.max_nodes, placement.MAX_NODES_PER_REPLICA) for o in offers),
        default=0,
    )
    return tuple(
        {"gpu_count": 2**i} for i in range(7) if 2**i <= limit and 2**i != request.gpu_count
    )


def _precisions(misfit: misfits.Misfit, *, fp8_gpu: bool) -> Lever:
    """FP8 KV cache, FP8 weights, both: those the tier does not already try by itself."""
    request, arch = misfit.request, misfit.model.arch
    if not fp8_gpu:
        return ()
    tier = tiers.get(request.tier)
    kv = request.kv_cache_dtype != "fp8" and not (
        request.kv_cache_dtype is None and tier.kv_cache_dtype == "fp8-if-supported"
    )
    weights = (
        arch.quantization is None
        and request.quantization != "fp8"
        and not (request.quantization is None and tier.allow_quantization == "fp8")
    )
    values: list[Changes] = []
    if kv:
        values.append({"kv_cache_dtype": "fp8"})
    if weights:
        values.append({"quantization": "fp8"})
    if kv and weights:
        values.append({"kv_cache_dtype": "fp8", "quantization": "fp8"})
    return tuple(values)


def _contexts(misfit: misfits.Misfit) -> Lever:
    """Powers of two below the context floor, longest first, down to ``MIN_CONTEXT``."""
    floor = misfit.sizing.floor_context
    return tuple({"context_length": 2**k} for k in range(17, 10, -1) if MIN_CONTEXT <= 2**k < floor)


def _search(
    base: Changes, levers: Sequence[Lever], tried: _Tried
) -> tuple[list[misfits.Fix], str | None]:
    """Fixes built from ``levers`` on top of ``base``; or none, and what even the most lacks."""
    extreme = _merge(base, *(lever[-1] for lever in levers))
    if tried.plan(extreme) is None:
        return [], _lacking(tried, extreme)
    found: list[misfits.Fix] = []
    alone: set[int] = set()
    for size in range(0 if base else 1, len(levers) + 1):
        for subset in itertools.combinations(range(len(levers)), size):
            if size == len(levers) and size > 1 and found:
                continue  # all levers together only when nothing smaller worked
            if size == 2 and all(i in alone for i in subset):
                continue  # both work alone; together they cost no less
            fix = _first(base, [levers[i] for i in subset], tried)
            if fix is not None:
                found.append(fix)
                if size == 1:
                    alone.add(subset[0])
    return found, None


def _first(base: Changes, levers: Sequence[Lever], tried: _Tried) -> misfits.Fix | None:
    """The first combination, in the levers' order, whose request plans."""
    for values in itertools.product(*levers):
        changes = _merge(base, *values)
        plan = tried.plan(changes)
        if plan is not None:
            return misfits.Fix(changes=tuple(changes.items()), plan=plan, keeps_gpu=True)
    return None


def _lacking(tried: _Tried, changes: Changes) -> str:
    """What the most permissive request that keeps the GPU still lacks."""
    outcome = tried(changes)
    request = misfits.apply(tried.request, changes)
    closest = outcome.closest if isinstance(outcome, misfits.Misfit) else None
    parts = ["even " + (closest.label if closest else str(request.gpu))]
    fp8 = [
        name
        for name, on in (
            ("weights", request.quantization == "fp8"),
            ("KV cache", request.kv_cache_dtype == "fp8"),
        )
        if on
    ]
    if fp8:
        parts.append("with FP8 " + " and ".join(fp8))
    if request.context_length:
        parts.append(f"at {request.context_length:,} tokens")
    even = " ".join(parts)
    if closest is None:
        return f"{even} cannot be planned"
    if closest.shortfall is None:
        return f"{even} cannot run: " + "; ".join(closest.problems)
    return f"{even} is {explaining.gib(closest.shortfall_gib)} GiB short per GPU"


def _merge(*changes: Changes) -> Changes:
    merged: Changes = {}
    for change in changes:
        merged.update(change)
    return merged


# --- beyond the pinned GPU ----------------------------------------------------------------


def _other_gpu(misfit: misfits.Misfit, tried: _Tried, *, exhaustive: bool) -> list[misfits.Fix]:
    """The planner's own pick without the GPU pin, spelled out as the GPU and count it chose."""
    free: Changes = {"gpu": None, "gpu_count": None}
    # Any GPU may be picked; an FP8 fix counts only where the pick has FP8 (``_Tried.plan``).
    levers = [lever for lever in (_precisions(misfit, fp8_gpu=True), _contexts(misfit)) if lever]
    candidates = [free]
    if exhaustive:  # nothing else worked: shorter contexts and FP8 on any GPU too
        for size in (1, 2):
            for subset in itertools.combinations(levers, size):
                candidates += [_merge(free, *values) for values in itertools.product(*subset)]
    for changes in candidates:
        plan = tried.plan(changes)
        if plan is None:
            continue
        concrete = {k: v for k, v in changes.items() if v is not None}
        concrete = {"gpu": plan.gpu, **concrete}
        if misfit.request.gpu_count is not None:
            concrete = {"gpu": plan.gpu, "gpu_count": plan.gpu_count, **concrete}
        checked = tried.plan(concrete)
        if checked is not None:
            return [misfits.Fix(changes=tuple(concrete.items()), plan=checked, keeps_gpu=False)]
    return []


def _lighter_tier(request: DeploymentSpec, tried: _Tried) -> list[misfits.Fix]:
    names = [t.name for t in tiers.all_tiers()]
    for name in reversed(names[: names.index(request.tier)]):
        plan = tried.plan({"tier": name})
        if plan is not None:
            return [misfits.Fix(changes=(("tier", name),), plan=plan, keeps_gpu=True)]
    return []


# --- choosing what to show ----------------------------------------------------------------


def _best(fixes: Sequence[misfits.Fix]) -> list[misfits.Fix]:
    """Fewest changes first, then cheapest; a fix is dropped when one with a subset of its
    changes costs no more."""
    kept = [f for f in fixes if not any(_dominates(g, f) for g in fixes if g is not f)]
    return sorted(kept, key=lambda f: (len(f.changes), _price(f)))


def _dominates(a: misfits.Fix, b: misfits.Fix) -> bool:
    return set(dict(a.changes)) < set(dict(b.changes)) and _price(a) <= _price(b)


def _price(fix: misfits.Fix) -> float:
    price = fix.plan.cost.usd_per_hour_replica
    return float("inf") if price is None else price


def _what_was_tried(request: DeploymentSpec) -> str:
    levers = ["other GPU counts"] if request.gpu_count else []
    levers += [f"contexts down to {MIN_CONTEXT:,} tokens", "FP8 weights and KV cache"]
    tried = [", ".join(levers[:-1]) + f" and {levers[-1]}, alone and together"]
    if request.gpu:
        tried.append("other GPU types")
    tried.append("lighter tiers")
    return "the planner tried " + "; ".join(tried) + "; none fits"
