"""KServe: an InferenceService (v1beta1) on its own vLLM ServingRuntime, or an
LLMInferenceService (llm-d inside KServe) when asked for it or for prefill/decode disaggregation.

InferenceService mode runs in KServe's Standard (raw Deployment) mode. The ServingRuntime holds
what belongs to the platform (image, command, port, capabilities, shared memory; see
``kserve_platforms``); the InferenceService holds what belongs to the plan (model, engine flags,
resources, probes, placement, token, cache, replicas and the KEDA autoscaling KServe renders into
a ScaledObject itself).

LLMInferenceService mode (``kserve_llm``) hands the vLLM command line, the endpoint picker and
the HTTPRoute to KServe's presets and fills in the model, parallelism, replicas, resources and
engine flags.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import kserve_llm
from kubefoundry.runtimes import kserve_platforms as platforms
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import ClusterSide, Controller, Kind, Operator, Root
from kubefoundry.runtimes.common import (
    claims,
    engine,
    kinds,
    labels,
    objects,
    pods,
    readiness,
    scaling,
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim

NAME = "kserve"
PREDICTOR = "predictor"
SERVING = "serving.kserve.io"
DEPLOYMENT_MODE = f"{SERVING}/deploymentMode"
AUTOSCALER_CLASS = f"{SERVING}/autoscalerClass"
VISIBILITY = "networking.kserve.io/visibility"
STANDARD = "Standard"  # v0.20's name for RawDeployment (which it still reads, as deprecated)


LLM_OPERATOR = "kserve-llmisvc"  # the LLMInferenceService controller's key
INFERENCE_SERVICE = Kind(SERVING, "v1beta1", "InferenceService", "inferenceservices")
LLM_INFERENCE_SERVICE = Kind(SERVING, "v1alpha2", "LLMInferenceService", "llminferenceservices")
SERVING_RUNTIME = Kind(SERVING, "v1alpha1", "ServingRuntime", "servingruntimes")
CLUSTER_SIDE = ClusterSide(
    roots=(
        Root(INFERENCE_SERVICE, readiness.Conditions(("Ready",))),
        Root(LLM_INFERENCE_SERVICE, readiness.Conditions(("Ready",))),
    ),
    renders=(
        INFERENCE_SERVICE,
        LLM_INFERENCE_SERVICE,
        SERVING_RUNTIME,
        kinds.SERVICE_ACCOUNT,
        *objects.KINDS,
        *tokens.KINDS,
    ),
    operators=(
        Operator(
            "kserve",
            INFERENCE_SERVICE.crd,
            # cmd/manager's LeaderLockName (leader election is off unless --leader-elect),
            # config/manager's pod label and config/webhook's Service.
            Controller(
                "the KServe controller manager",
                install="install KServe's controller (helm install kserve-resources "
                "oci://ghcr.io/kserve/charts/kserve-resources) or start "
                "kserve-controller-manager",
                leases=("kserve-controller-manager-leader-lock",),
                pods=("control-plane=kserve-controller-manager",),
                webhook_services=("kserve-webhook-server-service",),
            ),
        ),
        Operator(
            LLM_OPERATOR,
            LLM_INFERENCE_SERVICE.crd,
            # cmd/llmisvc's LeaderElectionID, and the kserve-llmisvc-resources chart's pod
            # label and webhook Service: a controller of its own, installed apart.
            Controller(
                "KServe's LLMInferenceService controller",
                install="install it (helm install kserve-llmisvc-resources "
                "oci://ghcr.io/kserve/charts/kserve-llmisvc-resources) or start "
                "llmisvc-controller-manager",
                leases=("llminferenceservice-kserve-controller-manager",),
                pods=("control-plane=llmisvc-controller-manager",),
                webhook_services=("llmisvc-webhook-server-service",),
            ),
        ),
    ),
)


class KServeRuntime:
    name = NAME
    summary = (
        "KServe InferenceService + vLLM ServingRuntime (NVIDIA, Xeon, Gaudi); LLMInferenceService"
    )
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    requires_text = f"{NAME} (InferenceService) or {LLM_OPERATOR} (LLMInferenceService)"
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.MULTI_NODE: (
            "multi-node predictors (workerSpec, LLMInferenceService worker) are not rendered; "
            "use lws"
        ),
        Feature.SCALE_TO_ZERO: (
            "Standard mode has no activator: at zero pods no vLLM exports the waiting-requests "
            "metric KEDA reads, so nothing wakes the model; Knative mode is not rendered"
        ),
    }

    def requires_for(self, options: Options) -> tuple[str, ...]:
        """Each mode's own controller: KServe's manager reconciles InferenceServices, a
        separate controller (its own chart) LLMInferenceServices."""
        return (LLM_OPERATOR,) if _llm(options) else (NAME,)

    def render(self, plan: Plan, options: Options) -> Rendered:
        if _llm(options):  # one pool per ISVC
            return kserve_llm.render(plan, options)
        return _render_inference_service(plan, options)

    def token(self, plan: Plan, options: Options) -> Token | None:
        """The pods' own reference, or the one KServe's storage initializer reads."""
        if _llm(options):
            return kserve_llm.token(plan, options)
        return tokens.resolve(plan, options)


def _llm(options: Options) -> bool:
    return options.llm_inference_service or options.disaggregated


# ---- InferenceService ------------------------------------------------------------------------


def _render_inference_service(plan: Plan, options: Options) -> Rendered:
    profile, why = platforms.profile_for(plan, options)
    token = tokens.resolve(plan, options)
    manifests: list[Manifest] = [
        inference_service(plan, options, profile, token=token),
        serving_runtime(plan, options, profile),
    ]
    if options.cache.enabled:
        manifests.append(objects.model_cache(plan, options, runtime=NAME))
    manifests += tokens.objects(plan, token, runtime=NAME)
    manifests += objects.route(
        plan, options, runtime=NAME, service_name=predictor_service(plan), port=objects.SERVICE_PORT
    )
    manifests += objects.monitor(plan, options, runtime=NAME, component=PREDICTOR)
    manifests += objects.disruption_budget(plan, options, runtime=NAME, component=PREDICTOR)
    said = [
        _mode_decision(),
        Decision(topic="platform", choice=profile.title, reason=why),
        _storage_decision(options),
        _scaling_decision(plan),
        *platforms.warnings(plan, options, profile),
    ]
    return Rendered.of(NAME, manifests, said, token=token)


def runtime_name(plan: Plan) -> str:
    return f"{plan.name}-vllm"


def predictor_service(plan: Plan) -> str:
    """The Service KServe creates for the predictor (port 80 → the container's port)."""
    return f"{plan.name}-{PREDICTOR}"


def inference_service(
    plan: Plan, options: Options, profile: platforms.Profile, *, token: Token | None
) -> Manifest:
    annotations = {
        **labels.root_annotations(plan),
        DEPLOYMENT_MODE: STANDARD,
        # Standard mode's default is a CPU HPA, meaningless for a GPU server: always say which.
        AUTOSCALER_CLASS: "keda" if scaling.wants_scaler(plan) else "none",
    }
    meta = labels.metadata(
        plan, plan.name, runtime=NAME, component=PREDICTOR, annotations=annotations
    )
    # KServe makes no Ingress of its own: with exposure "none" the model stays in the cluster
    # (without this label KServe's Standard mode writes an Ingress of its configured class
    # for <name>-<namespace>.example.com), otherwise our route is the way in.
    meta["labels"][VISIBILITY] = "cluster-local"
    predictor: dict[str, Any] = {
        **_replicas(plan, options),
        # A new pod needs the old one's GPUs: replace, never surge, on a full node.
        "deploymentStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
        },
        "model": _model(plan, options, profile, token=token),
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **platforms.placement(plan, profile),
    }
    if options.cache.enabled:
        predictor["volumes"] = [
            v for v in pods.volumes(plan, options) if v["name"] == pods.CACHE_VOLUME
        ]
    return {
        "apiVersion": f"{SERVING}/v1beta1",
        "kind": "InferenceService",
        "metadata": meta,
        "spec": {"predictor": predictor},
    }


def _model(
    plan: Plan, options: Options, profile: platforms.Profile, *, token: Token | None
) -> dict[str, Any]:
    """The plan's half of the kserve-container: KServe appends these args to the runtime's."""
    env = engine.env(plan, token_env=tokens.env(token), cache=options.cache.enabled)
    model: dict[str, Any] = {
        "modelFormat": {"name": platforms.MODEL_FORMAT},
        "runtime": runtime_name(plan),
        "args": [plan.model_id, *platforms.engine_args(plan, profile)],
        "env": [*env, *platforms.plan_env(plan, profile)],
        "resources": platforms.resources(plan, profile),
        **pods.probes(plan),
    }
    mounts = [m for m in pods.volume_mounts(options) if m["name"] == pods.CACHE_VOLUME]
    if mounts:
        model["volumeMounts"] = mounts
    return model


def _replicas(plan: Plan, options: Options) -> dict[str, Any]:
    """The plan's one autoscaling intent in KServe's own fields (KServe writes the ScaledObject)."""
    s = plan.autoscaling
    if not scaling.wants_scaler(plan):
        return {"minReplicas": plan.replicas, "maxReplicas": plan.replicas}
    metric = {
        "backend": "prometheus",
        "serverAddress": options.prometheus,
        "query": scaling.query(plan),
    }
    return {
        "minReplicas": s.min_replicas,
        "maxReplicas": s.max_replicas,
        "autoScaling": {
            # KServe hands KEDA only the stabilization windows of this behavior (its
            # v0.20 KEDA reconciler): a scale-down step policy would be dropped unsaid.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": s.cooldown_s}},
            # KServe passes target.value to KEDA's threshold, averaged per replica.
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": metric,
                        "target": {"type": "Value", "value": f"{s.target:g}"},
                    },
                }
            ],
        },
    }


def serving_runtime(plan: Plan, options: Options, profile: platforms.Profile) -> Manifest:
    """This deployment's own runtime: its image and platform can change without touching others."""
    return {
        "apiVersion": f"{SERVING}/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": labels.metadata(
            plan, runtime_name(plan), runtime=NAME, component="serving-runtime"
        ),
        "spec": platforms.runtime_spec(
            image_ref=platforms.image(plan, options, profile), profile=profile
        ),
    }


def _mode_decision() -> Decision:
    return Decision(
        topic="kserve mode",
        choice="InferenceService (Standard mode) on a namespaced ServingRuntime of its own",
        reason=(
            "Standard mode runs a plain Deployment (no Knative, any volume, KEDA scaling); a "
            "runtime per deployment pins its vLLM image and platform flags to this plan"
        ),
        alternatives=(
            Alternative(
                "a shared ClusterServingRuntime",
                "one change would move every model in the cluster; render one per platform with "
                "kserve_platforms.cluster_serving_runtime() when an admin wants that",
            ),
            Alternative(
                "Knative mode",
                "scale to zero, but a 10-minute revision deadline and "
                "volume restrictions a large model trips over",
            ),
        ),
    )


def _storage_decision(options: Options) -> Decision:
    if not options.cache.enabled:
        return Decision(
            topic="model storage",
            choice="vLLM downloads the weights into the container at every start",
            reason="the model cache is turned off",
        )
    return Decision(
        topic="model storage",
        choice="no storageUri: vLLM fills the shared model-cache PVC (HF_HOME) on first start",
        reason=(
            "warm starts skip the download, every replica and deployment of the model shares "
            "one copy, and the token reaches vLLM from its Secret like in every other runtime"
        ),
        alternatives=(
            Alternative(
                "storageUri hf://",
                "KServe's storage initializer downloads again on "
                "every pod start and reads the token only from a Secret key HF_TOKEN "
                "attached to the ServiceAccount",
            ),
            Alternative("storageUri pvc://", "needs the weights already laid out in the volume"),
        ),
    )


def _predictor_at(plan: Plan, *path: str | int) -> At:
    return At("InferenceService", plan.name, ("spec", "predictor", *path))


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling
    if not scaling.wants_scaler(plan):
        fixed = Claim(plan.replicas, _predictor_at(plan, "minReplicas"), "{} replica(s)")
        most = Claim(plan.replicas, _predictor_at(plan, "maxReplicas"), "maxReplicas {}")
        decision = Decision(
            topic="autoscaling",
            choice=f"fixed at {fixed} (autoscalerClass none, {most})",
            reason="the plan's minimum and maximum are equal",
        )
        return claims.said(decision, fixed, most)
    low = Claim(s.min_replicas, _predictor_at(plan, "minReplicas"))
    high = Claim(s.max_replicas, _predictor_at(plan, "maxReplicas"), "{} replicas")
    scaler = _predictor_at(plan, "autoScaling")
    target = Claim(
        s.target,
        dataclasses.replace(
            scaler, path=(*scaler.path, "metrics", 0, "external", "target", "value")
        ),
    )
    window = Claim(
        s.cooldown_s,
        dataclasses.replace(
            scaler,
            path=(*scaler.path, "behavior", "scaleDown", "stabilizationWindowSeconds"),
        ),
        "scale-down window {}s",
    )
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KServe autoscalerClass keda on {s.signal} (target {target} per replica), "
            f"{low}–{high}, {window}"
        ),
        reason=(
            "KServe owns the ScaledObject, so the InferenceService stays the one source; it "
            "passes KEDA only the scale-down window, so scale-in is not held to one pod a "
            "minute as on the runtimes whose ScaledObject we write"
        ),
        alternatives=(Alternative("our own ScaledObject", "KServe would fight it for replicas"),),
    )
    return claims.said(decision, low, high, target, window)
