"""KServe's LLMInferenceService (``serving.kserve.io/v1alpha2``, the version the v0.20 CRD stores):
llm-d inside KServe, aggregated or split into prefill and decode pools.

KServe's presets (``LLMInferenceServiceConfig``) own the vLLM command line, TLS, the routing
sidecar, the InferencePool, the endpoint picker and the HTTPRoute. This module fills in what the
plan decides: the model, tensor/pipeline parallelism, replicas, resources, the engine flags the
presets do not set (through ``VLLM_ADDITIONAL_ARGS``), the startup-probe budget and placement.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import kserve_platforms as platforms
from kubefoundry.runtimes.base import Manifest, Options, Rendered, Token
from kubefoundry.runtimes.common import (
    claims,
    engine,
    labels,
    objects,
    pods,
    scaling,
    splitting,
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim, Pick

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
STORAGE_TOKEN_KEY = "HF_TOKEN"  # the only key KServe's storage initializer reads a token from
WORKLOAD_PORT = 8000  # the presets' vLLM port, HTTPS with KServe's self-signed certificate


def render(plan: Plan, options: Options) -> Rendered:
    profile, _ = platforms.profile_for(plan, options)
    if profile.name != "nvidia":
        raise InvalidInputError(
            f"LLMInferenceService runs KServe's llm-d CUDA presets; {profile.title} is not one.",
            hint="Turn off `serving.llm_inference_service` and `serving.disaggregated` to "
            "render an InferenceService with the Intel profile.",
        )
    token_ = token(plan, options)
    split = splitting.split(plan, options) if options.disaggregated else None
    manifests: list[Manifest] = [llm_inference_service(plan, options, split=split, token=token_)]
    manifests += _model_reader(plan, token_)
    manifests += tokens.objects(plan, token_, runtime=NAME)
    manifests += _workload_objects(plan, options)
    said: list[claims.Said | Decision | str] = [
        _mode_decision(options),
        _storage_decision(),
        _scaling_decision(plan, split),
    ]
    if split:
        said.append(_split_decision(plan, split))
    said += _warnings(plan, options)
    return Rendered.of(NAME, manifests, said, token=token_)


def token(plan: Plan, options: Options) -> Token | None:
    """The Secret KServe's storage initializer reads, through the ServiceAccount, at the key
    it reads (``HF_TOKEN``); no reference when no token is known to be needed."""
    out = tokens.resolve(plan, options, key=STORAGE_TOKEN_KEY)
    return out if out and not out.optional else None


def llm_inference_service(
    plan: Plan, options: Options, *, split: splitting.Split | None, token: Token | None
) -> Manifest:
    spec: dict[str, Any] = {
        "model": {"uri": f"hf://{plan.model_id}", "name": plan.model_id},
        "replicas": split.decode if split else plan.replicas,
        "parallelism": _parallelism(plan),
        # Propagated to every workload KServe creates, so `kubefoundry ls` finds them.
        "labels": {
            k: v
            for k, v in labels.labels(plan, runtime=NAME, component="llm").items()
            if k in (labels.DEPLOYMENT, labels.MANAGED_BY, labels.MODEL, labels.RUNTIME)
        },
        "router": _router(options),
        "template": _template(plan, options, disaggregated=bool(split), token=token),
    }
    if split:
        spec["prefill"] = {
            "replicas": split.prefill,
            "parallelism": _parallelism(plan),
            "template": _template(plan, options, disaggregated=True, token=token),
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


def _template(
    plan: Plan, options: Options, *, disaggregated: bool, token: Token | None
) -> dict[str, Any]:
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
    if token:
        template["serviceAccountName"] = model_reader_name(plan)
    return template


def model_reader_name(plan: Plan) -> str:
    return f"{plan.name}-model-reader"


def _model_reader(plan: Plan, token: Token | None) -> list[Manifest]:
    """The ServiceAccount whose Secret KServe's storage initializer reads HF_TOKEN from."""
    if not token:
        return []
    meta = labels.metadata(plan, model_reader_name(plan), runtime=NAME, component="token")
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta,
            "secrets": [{"name": token.secret}],
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


def _at(plan: Plan, *path: str | int | Pick) -> At:
    return At("LLMInferenceService", plan.name, ("spec", *path))


def _scaling_decision(plan: Plan, split: splitting.Split | None) -> claims.Said:
    decode = Claim(split.decode if split else plan.replicas, _at(plan, "replicas"))
    stated = [decode]
    if split:
        prefill = Claim(split.prefill, _at(plan, "prefill", "replicas"), "{} prefill")
        fixed = f"{decode} decode + {prefill} replicas"
        stated.append(prefill)
    else:
        fixed = f"{decode} replicas"
    return claims.said(
        Decision(
            topic="autoscaling",
            choice=f"fixed: {fixed}",
            reason="LLMInferenceService scales only through the workload-variant-autoscaler "
            "(spec.scaling.wva), a separate controller; replicas and scaling exclude each other",
            alternatives=(Alternative("InferenceService mode", "KEDA on vLLM's waiting requests"),),
        ),
        *stated,
    )


def _split_decision(plan: Plan, split: splitting.Split) -> claims.Said:
    decode = Claim(split.decode, _at(plan, "replicas"), "{} decode")
    prefill = Claim(split.prefill, _at(plan, "prefill", "replicas"), "{} prefill")
    gpus = Claim(
        pods.gpus_per_pod(plan),
        _at(plan, "template", "containers", Pick("name", "main"), "resources", "limits",
            plan.gpu_resource),
        f"{{}}×{plan.gpu}",
    )  # fmt: skip
    decision = Decision(
        topic="disaggregation",
        choice=f"{decode} + {prefill} pods, {gpus} each, KV caches handed over by NIXL",
        reason=splitting.reason(split),
    )
    return claims.said(decision, decode, prefill, gpus)


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
    if not options.image:
        out.append(
            f"The presets' llm-d CUDA image brings its own vLLM, not {plan.engine_version}; "
            "pass --image to pin one."
        )
    return out
