"""Pod parts: GPU resources, placement, shared memory, the model cache, probes, the vLLM
container."""

from __future__ import annotations

import math
from typing import Any

from kubefoundry.core.naming import dns_label
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Options, Token
from kubefoundry.runtimes.common import engine, tokens

SHM_VOLUME = "dshm"
CACHE_VOLUME = "model-cache"


def gpus_per_pod(plan: Plan) -> int:
    return plan.gpu_count // plan.nodes_per_replica


def resources(plan: Plan, *, gpus: int | None = None) -> dict[str, Any]:
    """GPU limit plus CPU and memory sized for loading this pod's share of the weights."""
    count = gpus_per_pod(plan) if gpus is None else gpus
    share = plan.memory.weights_gib * max(count, 1)
    memory = max(16, math.ceil(share * 1.5) + 8)
    cpu = max(4, 4 * count)
    requests = {"cpu": str(cpu), "memory": f"{memory}Gi"}
    limits: dict[str, Any] = {"memory": f"{memory}Gi"}
    if count:
        requests[plan.gpu_resource] = str(count)
        limits[plan.gpu_resource] = str(count)
    return {"requests": requests, "limits": limits}


def placement(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if plan.node_selector:
        out["nodeSelector"] = dict(plan.node_selector)
    if plan.tolerations:
        out["tolerations"] = [dict(t) for t in plan.tolerations]
    return out


def cache_claim_name(plan: Plan) -> str:
    """One cache per model, shared by every deployment of it in the namespace."""
    return dns_label(f"{plan.model_name}-cache")


def volumes(plan: Plan, options: Options) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{engine.SHM_GIB}Gi"}}
    ]
    if options.cache.enabled:
        out.append(
            {"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": cache_claim_name(plan)}}
        )
    return out


def volume_mounts(options: Options) -> list[dict[str, Any]]:
    out = [{"name": SHM_VOLUME, "mountPath": "/dev/shm"}]
    if options.cache.enabled:
        out.append({"name": CACHE_VOLUME, "mountPath": engine.CACHE_PATH})
    return out


def probes(plan: Plan, *, port: int | str = "http", path: str | None = None) -> dict[str, Any]:
    """Startup covers a cold start with margin; liveness and readiness stay strict after."""
    p = plan.probes
    get = {"path": path or p.path, "port": port}
    return {
        "startupProbe": {
            "httpGet": dict(get),
            "periodSeconds": p.startup_period_s,
            "failureThreshold": p.startup_failure_threshold,
            "timeoutSeconds": 5,
        },
        "readinessProbe": {
            "httpGet": dict(get),
            "periodSeconds": p.readiness_period_s,
            "failureThreshold": p.readiness_failure_threshold,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": dict(get),
            "periodSeconds": p.liveness_period_s,
            "failureThreshold": p.liveness_failure_threshold,
            "timeoutSeconds": 10,
        },
    }


def vllm_container(
    plan: Plan,
    options: Options,
    *,
    token: Token | None,
    name: str = "vllm",
    extra_args: tuple[str, ...] = (),
    distributed: str | None = None,
    with_probes: bool = True,
) -> dict[str, Any]:
    """The vLLM OpenAI server container every vLLM-based runtime runs."""
    container: dict[str, Any] = {
        "name": name,
        "image": engine.image(plan, options.image),
        "command": ["vllm", "serve"],
        "args": [plan.model_id, *engine.args(plan, distributed=distributed), *extra_args],
        "env": engine.env(plan, token_env=tokens.env(token), cache=options.cache.enabled),
        "ports": [{"name": "http", "containerPort": engine.PORT, "protocol": "TCP"}],
        "resources": resources(plan),
        "volumeMounts": volume_mounts(options),
    }
    if with_probes:
        container.update(probes(plan))
    return container


def termination_grace_s(plan: Plan) -> int:
    """Long enough to drain in-flight requests of the planned context."""
    return 60 if plan.max_model_len <= 32_768 else 120
