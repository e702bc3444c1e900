"""Pick the runtime for a plan when the user did not, and say why the others lost.

Order of preference is the registry's order (simplest first). A runtime is out when the plan
needs a feature it declares it cannot serve, or when cluster facts are known and its operator's
controller is not running (only its CRDs are there), or its nodes lack labels it needs. A
pinned runtime that cannot serve the plan is refused with the reason.
"""

from __future__ import annotations

import dataclasses

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.core.facts import ClusterFacts
from kubefoundry.core.naming import counted
from kubefoundry.planning import engine_profiles
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import base
from kubefoundry.runtimes.common import tokens
from kubefoundry.runtimes.registry import Registry


def unavailable(
    runtime: base.Runtime,
    plan: Plan,
    options: base.Options,
    facts: ClusterFacts | None,
    *,
    pinned: bool = False,
) -> str | None:
    """Why ``runtime`` cannot serve this plan here, or None.

    With cluster facts, each operator it needs must have a running controller (a CRD alone
    does nothing); one whose controller could not be seen for RBAC (``unknown``) is never
    picked, but a runtime the user ``pinned`` may go ahead on it (a silent operator still
    fails the deploy within a minute: ``deploy/stalls``)."""
    reason = base.refusal(runtime, plan, options)
    if reason:
        return reason
    if facts is None:
        return None
    missing = [r for r in base.required(runtime, options) if r not in facts.installed_runtimes]
    if pinned:
        missing = [r for r in missing if _state(facts, r) != "unknown"]
    if missing:
        return f"{runtime.name}: " + "; ".join(_why_not(facts, r) for r in missing)
    return _missing_labels(runtime, plan, facts)


def _missing_labels(runtime: base.Runtime, plan: Plan, facts: ClusterFacts) -> str | None:
    """Why the pool the plan selects cannot take this runtime's pods: its nodes lack labels
    the runtime reads (``ClusterSide.node_labels``); None when they carry them, or when no
    pool of the cluster matches the plan's selector (the checks speak to that)."""
    needed = runtime.cluster_side.node_labels
    if needed is None or plan.cost.cloud in needed.unless_cloud:
        return None
    pools = [
        p
        for p in facts.gpu_pools()
        if p.gpu == plan.gpu and plan.node_selector.items() <= p.labels.items()
    ]
    if not pools or any(set(needed.keys) <= p.labels.keys() for p in pools):
        return None
    pool = pools[0]
    lacks = ", ".join(k for k in needed.keys if k not in pool.labels)
    return (
        f"{runtime.name}: node pool {pool.name}'s nodes lack {lacks} ({needed.why}). "
        f"To fix: {needed.fix}"
    )


def _state(facts: ClusterFacts, key: str) -> str | None:
    status = facts.operators.get(key)
    return status.state if status else None


def _why_not(facts: ClusterFacts, key: str) -> str:
    status = facts.operators.get(key)
    if status is None:
        return f"{key} is not installed in the cluster"
    if status.state == "unknown":
        return f"whether {key}'s controller runs is unknown ({status.evidence}); {status.fix}"
    return f"only {key}'s CRDs are installed: {status.evidence}. To fix: {status.fix}"


def choose(
    plan: Plan,
    options: base.Options,
    *,
    registry: Registry,
    facts: ClusterFacts | None = None,
) -> tuple[base.Runtime, Plan]:
    """The runtime to render with, and the plan with that decision recorded."""
    if plan.runtime:
        runtime = registry.get(plan.runtime)
        reason = unavailable(runtime, plan, options, facts, pinned=True)
        if reason:
            fits = [r.name for r in registry.all() if not unavailable(r, plan, options, facts)]
            raise InvalidInputError(
                f"Runtime {runtime.name} cannot serve this plan: {reason}.",
                hint=("Runtimes that can: " + ", ".join(fits) + ".")
                if fits
                else "No runtime can; change the plan (GPU, context, disaggregation).",
            )
        unseen = [
            r for r in base.required(runtime, options) if facts and _state(facts, r) == "unknown"
        ]
        reason = "pinned by you" + "".join(
            f"; whether {r}'s controller runs is unknown here ({_why_not(facts, r)})"
            for r in unseen
            if facts
        )
        decision = Decision(topic="runtime", choice=runtime.name, reason=reason)
        return runtime, _with(plan, runtime, decision, options)
    chosen: base.Runtime | None = None
    rejected: list[Alternative] = []
    for runtime in registry.all():
        reason = unavailable(runtime, plan, options, facts)
        if reason is None and chosen is None:
            chosen = runtime
        elif reason is None:
            rejected.append(Alternative(runtime.name, _also_possible(runtime, chosen, options)))
        else:
            rejected.append(Alternative(runtime.name, reason))
    if chosen is None:
        raise InvalidInputError(
            "No runtime can serve this plan: " + "; ".join(a.why_not for a in rejected) + ".",
            hint="Pin `runtime`, or install the operator the plan needs.",
        )
    needed = sorted(f.value for f in base.needs(plan, options))
    reason = (
        f"the simplest runtime that serves {', '.join(needed)}"
        if needed
        else "the simplest runtime for a single-node replica"
    )
    decision = Decision(
        topic="runtime", choice=chosen.name, reason=reason, alternatives=tuple(rejected)
    )
    return chosen, _with(plan, chosen, decision, options)


def _also_possible(
    runtime: base.Runtime, chosen: base.Runtime | None, options: base.Options
) -> str:
    first = chosen.name if chosen else "the first choice"
    if needs := base.required(runtime, options):
        return f"works too, but adds {', '.join(needs)} to run; {first} does not need it"
    return f"works too; {first} comes first in the preference order"


def _with(plan: Plan, runtime: base.Runtime, decision: Decision, options: base.Options) -> Plan:
    chosen = dataclasses.replace(plan, runtime=runtime.name, decisions=(*plan.decisions, decision))
    return token_warning(
        adapt(with_bundled_vllm(chosen, runtime, options=options), runtime), runtime, options
    )


def with_bundled_vllm(plan: Plan, runtime: base.Runtime, *, options: base.Options) -> Plan:
    """The plan for the vLLM ``runtime``'s image brings (``base.bundled_vllm``), so the plan
    and the image agree. Only where that release budgets memory as the plan's does
    (``engine_profiles``: same start-up profile), so the memory plan holds unchanged; across
    profiles the plan keeps its release and the runtime's render warns."""
    bundled = base.bundled_vllm(runtime, options)
    if bundled is None or bundled == plan.engine_version:
        return plan
    if engine_profiles.profile_for(bundled) != engine_profiles.profile_for(plan.engine_version):
        return plan
    decision = Decision(
        topic="engine",
        choice=f"vLLM {bundled}",
        reason=f"the release {runtime.name}'s image runs; vLLM {plan.engine_version} budgets "
        "GPU memory the same way, so the memory plan holds",
    )
    return dataclasses.replace(plan, engine_version=bundled, decisions=(*plan.decisions, decision))


def token_warning(plan: Plan, runtime: base.Runtime, options: base.Options) -> Plan:
    """The plan with the token line ``runtime`` makes true.

    The planner knows a model is gated, not which Secret key the chosen runtime reads nor
    whether the token comes from a Secret or an ExternalSecret, so the line is worded here,
    from the token the runtime renders (``tokens.for_runtime``, the same value its objects
    reference).
    """
    line = tokens.warning(plan, tokens.for_runtime(runtime, plan, options))
    return dataclasses.replace(plan, warnings=(*plan.warnings, line)) if line else plan


def adapt(plan: Plan, runtime: base.Runtime) -> Plan:
    """The plan as ``runtime`` will serve it.

    A runtime that sizes replicas itself (``base.resized``) gets its own count. A tier that
    asks to scale to zero on a runtime that cannot wake from zero keeps one replica warm
    instead, and the plan says so and what it costs.
    """
    plan = base.resized(runtime, plan)
    scaling = plan.autoscaling
    if not scaling.scale_to_zero or base.Feature.SCALE_TO_ZERO not in runtime.limits:
        return plan
    floor = dataclasses.replace(
        scaling,
        min_replicas=max(1, scaling.min_replicas),
        max_replicas=max(1, scaling.max_replicas),
        scale_to_zero=False,
    )
    cost = plan.cost.usd_per_hour_replica
    price = f" (about ${cost * floor.min_replicas:,.2f}/h while idle)" if cost else ""
    decision = Decision(
        topic="scale to zero",
        choice=f"keep {counted(floor.min_replicas, 'replica')} warm{price}",
        reason=f"{runtime.name} cannot scale from zero: "
        f"{runtime.limits[base.Feature.SCALE_TO_ZERO]}",
        alternatives=(
            Alternative(
                "scale to zero",
                "pin --runtime kuberay (Ray Serve's proxy wakes replicas on the first request)",
            ),
        ),
    )
    return dataclasses.replace(
        plan,
        autoscaling=floor,
        replicas=max(1, plan.replicas),
        decisions=(*plan.decisions, decision),
    )
