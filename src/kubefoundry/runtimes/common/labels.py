"""Identity: every object we render says it is ours and which deployment it belongs to.

The cluster is the source of truth: ``kubefoundry ls`` is a label query on
``kubefoundry.io/deployment``. The root object carries the plan summary as an annotation.
Owner references need the root's UID, so ``cluster/`` adds them when it applies; exported
YAML (GitOps) relies on the labels instead.
"""

from __future__ import annotations

import json
from typing import Any

from kubefoundry.core.naming import dns_label
from kubefoundry.planning.plans import Plan

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
DEPLOYMENT = "kubefoundry.io/deployment"
MODEL = "kubefoundry.io/model"
RUNTIME = "kubefoundry.io/runtime"
ROOT = "kubefoundry.io/root"
PLAN = "kubefoundry.io/plan"
KEEP = "kubefoundry.io/keep-on-delete"
OURS = "kubefoundry"


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


def root_annotations(plan: Plan) -> dict[str, str]:
    """The plan summary the root object carries, so the cluster says what was decided."""
    summary = {
        "model": plan.model_id,
        "tier": plan.tier,
        "gpu": f"{plan.gpu_count}x{plan.gpu}",
        "tensorParallel": plan.tensor_parallel,
        "pipelineParallel": plan.pipeline_parallel,
        "nodesPerReplica": plan.nodes_per_replica,
        "replicas": plan.replicas,
        "maxModelLen": plan.max_model_len,
        "kvTokens": plan.memory.kv_tokens,
        "engine": f"{plan.engine} {plan.engine_version}",
        "usdPerHour": plan.cost.usd_per_hour_total,
    }
    return {ROOT: "true", PLAN: json.dumps(summary, sort_keys=True, separators=(",", ":"))}
