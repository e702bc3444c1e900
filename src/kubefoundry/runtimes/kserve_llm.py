"""KServe's LLMInferenceService (``serving.kserve.io/v1alpha2``, the version the v0.20 CRD stores):
llm-d inside KServe, aggregated or split into prefill and decode pools.

KServe's presets (``LLMInferenceServiceConfig``) own the vLLM command line, TLS, the routing
sidecar, the InferencePool, the endpoint picker and the HTTPRoute. This module fills in what the
plan decides: the model, tensor/pipeline parallelism, replicas, resources, the engine flags the
presets do not set (through ``VLLM_ADDITIONAL_ARGS``), the startup-probe budget and placement.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import kserve_platforms as platforms
from kubefoundry.runtimes.base import Manifest, Options, Rendered
from kubefoundry.runtimes.common import engine, labels, objects, pods, scaling

NAME = "kserve"
API_VERSION = "serving.kserve.io/v1alpha2"
KV_TRANSFER = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
# Flags the preset's ``vllm serve`` line sets itself (the model, its port, spec.parallelism).
PRESET_FLAGS = (
    "--served-model-name",
    "--port",
    "--tensor-parallel-size",
    "--pipeline-parallel-size",
)
# The labels KServe's controller puts on the vLLM pods it creates (prefill and decode alike).
WORKLOAD_SELECTOR = {
    "app.kubernetes.io/part-of": "llminferenceservice",
    "kserve.io/component": "workload",
}
WORKLOAD_PORT = 8000  # the presets' vLLM port, HTTPS with KServe's self-signed certificate


def render(plan: Plan, options: Options) -> Rendered:
    profile, _ = platforms.profile_for(plan, options)
    if profile.name != "nvidia":
        raise InvalidInputError(
            f"LLMInferenceService runs KServe's llm-d CUDA presets; {profile.title} is not one.",
            hint="Drop --llm-inference-service and --disaggregated to render an "
            "InferenceService with the Intel profile.",
        )
    decode, prefill = split(plan, options)
    manifests: list[Manifest] = [
        llm_inference_service(plan, options, decode=decode, prefill=prefill)
    ]
    manifests += _model_reader(plan, options)
    manifests += objects.token_objects(plan, options, runtime=NAME)
    manifests += _workload_objects(plan, options)
    decisions = [_mode_decision(options), _storage_decision(), _scaling_decision(plan)]
    if prefill:
        decisions.append(_split_decision(plan, options, decode=decode, prefill=prefill))
    return Rendered(
        runtime=NAME,
        manifests=tuple(manifests),
        decisions=tuple(decisions),
        warnings=tuple(_warnings(plan, options)),
    )


def split(plan: Plan, options: Options) -> tuple[int, int]:
    """(decode, prefill) replicas: the plan's replicas shared out, prefill first for RAG."""
    if not options.disaggregated:
        return plan.replicas, 0
    total = max(plan.replicas, 2)
    prefill = math.ceil(total / 2) if options.workload == "rag" else total // 2
    return total - prefill, prefill


def llm_inference_service(plan: Plan, options: Options, *, decode: int, prefill: int) -> Manifest:
    spec: dict[str, Any] = {
        "model": {"uri": f"hf://{plan.model_id}", "name": plan.model_id},
        "replicas": decode,
        "parallelism": _parallelism(plan),
        # Propagated to every workload KServe creates, so `kubefoundry ls` finds them.
        "labels": {
            k: v
            for k, v in labels.labels(plan, runtime=NAME, component="llm").items()
            if k in (labels.DEPLOYMENT, labels.MANAGED_BY, labels.MODEL, labels.RUNTIME)
        },
        "router": _router(options),
        "template": _template(plan, options, disaggregated=bool(prefill)),
    }
    if prefill:
        spec["prefill"] = {
            "replicas": prefill,
            "parallelism": _parallelism(plan),
            "template": _template(plan, options, disaggregated=True),
        }
    meta = labels.metadata(
        plan, plan.name, runtime=NAME, component="llm", annotations=labels.root_annotations(plan)
    )
    return {
        "apiVersion": API_VERSION,
        "kind": "LLMInferenceService",
        "metadata": meta,
        "spec": spec,
    }


def _parallelism(plan: Plan) -> dict[str, int]:
    out = {"tensor": plan.tensor_parallel}
    if plan.pipeline_parallel > 1:
        out["pipeline"] = plan.pipeline_parallel
    return out


def _router(options: Options) -> dict[str, Any]:
    """KServe's managed HTTPRoute, InferencePool and endpoint picker, on the chosen Gateway."""
    gateway: dict[str, Any] = {}
    if options.exposure == "httproute":
        ref = {"name": options.gateway}
        if options.gateway_namespace:
            ref["namespace"] = options.gateway_namespace
        gateway["refs"] = [ref]
    return {"route": {}, "gateway": gateway, "scheduler": {}}


def additional_args(plan: Plan, *, disaggregated: bool) -> str:
    """The plan's engine flags the preset does not set itself, as VLLM_ADDITIONAL_ARGS."""
    args = engine.args(plan)
    for flag in PRESET_FLAGS:
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
    if disaggregated:
        args += ["--kv-transfer-config", json.dumps(KV_TRANSFER, separators=(",", ":"))]
    return shlex.join(args)


def _template(plan: Plan, options: Options, *, disaggregated: bool) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {
            "name": "VLLM_ADDITIONAL_ARGS",
            "value": additional_args(plan, disaggregated=disaggregated),
        }
    ]
    if disaggregated:
        env.append(
            {
                "name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
                "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
            }
        )
    p = plan.probes
    main: dict[str, Any] = {
        "name": "main",
        "env": env,
        "resources": pods.resources(plan),
        # Merged into the preset's probe: only the budget changes, from the model's size.
        "startupProbe": {
            "periodSeconds": p.startup_period_s,
            "failureThreshold": p.startup_failure_threshold,
        },
    }
    if options.image:
        main["image"] = options.image
    template: dict[str, Any] = {"containers": [main], **pods.placement(plan)}
    if pods.needs_token(plan, options):
        template["serviceAccountName"] = model_reader_name(plan)
    return template


def model_reader_name(plan: Plan) -> str:
    return f"{plan.name}-model-reader"


def _model_reader(plan: Plan, options: Options) -> list[Manifest]:
    """The ServiceAccount whose Secret KServe's storage initializer reads HF_TOKEN from."""
    if not pods.needs_token(plan, options):
        return []
    meta = labels.metadata(plan, model_reader_name(plan), runtime=NAME, component="token")
    secret = pods.token_secret_name(plan, options)
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "secrets": [{"name": secret}],
        }
    ]


def _workload_objects(plan: Plan, options: Options) -> list[Manifest]:
    """Scraping and a disruption budget on the pods KServe creates (HTTPS on 8000)."""
    selector = {**WORKLOAD_SELECTOR, "app.kubernetes.io/name": plan.name}
    out: list[Manifest] = []
    if options.monitoring != "none":  # a Service port for it is KServe's, so scrape the pods
        endpoint = {
            "portNumber": WORKLOAD_PORT,
            "path": "/metrics",
            "interval": "15s",
            "scheme": "https",
            "tlsConfig": {"insecureSkipVerify": True},  # KServe's self-signed serving certs
        }
        monitor = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": labels.metadata(plan, plan.name, runtime=NAME, component="monitoring"),
            "spec": {"selector": {"matchLabels": selector}, "podMetricsEndpoints": [endpoint]},
        }
        out.append(monitor)
    for pdb in objects.disruption_budget(plan, options, runtime=NAME, component="llm"):
        pdb["spec"]["selector"] = {"matchLabels": selector}
        out.append(pdb)
    return out


def _mode_decision(options: Options) -> Decision:
    why = (
        "you asked for prefill/decode disaggregation"
        if options.disaggregated
        else "you asked for it"
    )
    return Decision(
        topic="kserve mode",
        choice="LLMInferenceService with KServe's scheduler, route and gateway",
        reason=f"{why}; KServe's presets bring llm-d's endpoint picker with prefix- and "
        "KV-cache-aware scoring, matched to the images they ship",
        alternatives=(Alternative("InferenceService", "one pool, round-robin Service routing"),),
    )


def _storage_decision() -> Decision:
    return Decision(
        topic="model storage",
        choice="model.uri hf://: KServe's storage initializer downloads into /mnt/models",
        reason="the presets serve /mnt/models; the shared cache PVC holds a Hugging Face cache "
        "layout that pvc:// cannot serve, so it is not rendered in this mode",
    )


def _scaling_decision(plan: Plan) -> Decision:
    return Decision(
        topic="autoscaling",
        choice=f"fixed replicas ({plan.replicas} planned)",
        reason="LLMInferenceService scales only through the workload-variant-autoscaler "
        "(spec.scaling.wva), a separate controller; replicas and scaling exclude each other",
        alternatives=(Alternative("InferenceService mode", "KEDA on vLLM's waiting requests"),),
    )


def _split_decision(plan: Plan, options: Options, *, decode: int, prefill: int) -> Decision:
    why = (
        "RAG prompts are long and answers short, so prefill gets the larger share"
        if options.workload == "rag"
        else f"{options.workload} answers stream for long, so decode gets the larger share"
    )
    return Decision(
        topic="disaggregation",
        choice=(
            f"{decode} decode + {prefill} prefill pods, {plan.gpu_count}×{plan.gpu} each, "
            "KV caches handed over by NIXL"
        ),
        reason=why,
    )


def _warnings(plan: Plan, options: Options) -> list[str]:
    out = []
    if scaling.wants_scaler(plan):
        out.append(
            f"Autoscaling ({plan.autoscaling.min_replicas}–{plan.autoscaling.max_replicas}) is not "
            "rendered for LLMInferenceService; replicas stay fixed."
        )
    if options.exposure in ("ingress", "apisix"):
        out.append(
            f"{options.exposure} cannot reach an InferencePool; the LLMInferenceService is "
            "exposed through its Gateway API route instead."
        )
    if pods.needs_token(plan, options) and options.token.secret_key != "HF_TOKEN":
        out.append(
            f"KServe's storage initializer reads the token from key HF_TOKEN of Secret "
            f"{pods.token_secret_name(plan, options)}; key {options.token.secret_key!r} is ignored."
        )
    if not options.image:
        out.append(
            f"The presets' llm-d CUDA image brings its own vLLM, not {plan.engine_version}; "
            "pass --image to pin one."
        )
    return out
