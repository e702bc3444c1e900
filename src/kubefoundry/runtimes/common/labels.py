"""Labels and annotations on every object we render: ours, and which deployment it belongs to.

The keys live in ``core/identity.py``, shared with the readers in ``cluster/``, ``deploy/``
and the CLI. The cluster is the source of truth: ``kubefoundry ls`` is a label query on the
deployment label. The root object carries the plan summary as an annotation. Owner
references need the root's UID, so ``cluster/`` adds them when it applies; exported YAML
(GitOps) relies on the labels instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubefoundry.core import identity
from kubefoundry.core.naming import dns_label
from kubefoundry.planning.plans import Plan

# The renderers' names for the keys in core.identity (the same objects, not copies).
MANAGED_BY = identity.MANAGED_BY
NAME = identity.NAME
COMPONENT = identity.COMPONENT
PART_OF = identity.PART_OF
DEPLOYMENT = identity.DEPLOYMENT
MODEL = identity.MODEL
RUNTIME = identity.RUNTIME
ROOT = identity.ROOT
PLAN = identity.PLAN
KEEP = identity.KEEP
OURS = identity.OURS
MODEL_CACHE = identity.MODEL_CACHE


def labels(plan: Plan, *, runtime: str, component: str) -> dict[str, str]:
    return {
        NAME: plan.name,
        COMPONENT: component,
        PART_OF: OURS,
        MANAGED_BY: OURS,
        DEPLOYMENT: plan.name,
        MODEL: dns_label(plan.model_name),
        RUNTIME: runtime,
    }


def selector(plan: Plan, component: str) -> dict[str, str]:
    """The labels that pick one component's pods: stable across re-renders."""
    return {DEPLOYMENT: plan.name, COMPONENT: component}


def metadata(
    plan: Plan,
    name: str,
    *,
    runtime: str,
    component: str,
    annotations: dict[str, str] | None = None,
    namespaced: bool = True,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": labels(plan, runtime=runtime, component=component),
    }
    if namespaced and plan.namespace:
        meta["namespace"] = plan.namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def plan_summary(plan: Plan) -> identity.PlanSummary:
    """What the root object tells the cluster was decided."""
    return identity.PlanSummary(
        model=plan.model_id,
        tier=plan.tier,
        gpu=f"{plan.gpu_count}x{plan.gpu}",
        tensor_parallel=plan.tensor_parallel,
        pipeline_parallel=plan.pipeline_parallel,
        nodes_per_replica=plan.nodes_per_replica,
        replicas=plan.replicas,
        max_model_len=plan.max_model_len,
        kv_tokens=plan.memory.kv_tokens,
        engine=f"{plan.engine} {plan.engine_version}",
        usd_per_hour=plan.cost.usd_per_hour_total,
        output_tokens_per_s=(
            None
            if plan.performance is None
            else round(plan.performance.output_tokens_per_s * plan.replicas, 1)
        ),
        input_tokens_per_s=(
            None
            if plan.performance is None
            else round(plan.performance.input_tokens_per_s * plan.replicas, 1)
        ),
        prefill_share=None if plan.performance is None else plan.performance.prefill_share,
    )


def root_annotations(plan: Plan, *, engine: str | None = None) -> dict[str, str]:
    """The root mark and the plan summary; ``engine`` names another engine than the plan's."""
    summary = plan_summary(plan)
    if engine is not None:
        summary = dataclasses.replace(summary, engine=engine)
    return {ROOT: "true", PLAN: summary.to_annotation()}
