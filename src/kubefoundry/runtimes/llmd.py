"""llm-d on the Gateway API Inference Extension: vLLM pools behind an InferencePool whose
endpoint picker routes each request by prefix-cache hits, KV-cache use and queue depth.

Rendered: one vLLM Deployment (or a decode and a prefill Deployment with
``options.disaggregated``), the InferencePool (``inference.networking.k8s.io/v1``) selecting
exactly those pods, the endpoint picker (``llmd_picker``), an HTTPRoute whose backend is the
pool, an InferenceObjective (``llm-d.ai/v1alpha2``) giving the model's requests their priority,
and per pool a KEDA ScaledObject and a PodDisruptionBudget, plus monitoring, cache and token.

With disaggregation the decode pods carry llm-d's routing sidecar: the pool targets the sidecar
on 8000, which has a prefill pod compute the prompt when the picker chose one, then hands the
request to vLLM on 8200; prefill and decode vLLM exchange KV caches over NIXL.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import llmd_picker as picker
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
    splitting,
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim, Parsed, Pick

NAME = "llmd"
POOL_API = "inference.networking.k8s.io/v1"
POOL_GROUP = picker.POOL_GROUP
OBJECTIVE_API = "llm-d.ai/v1alpha2"
OBJECTIVE_HEADER = "x-llm-d-inference-objective"
POOL_LABEL = "kubefoundry.io/inference-pool"  # on every model-server pod, never on the picker
ROLE_LABEL = "llm-d.ai/role"  # what the picker's prefill/decode filters read
ENGINE_LABEL = "llm-d.ai/engine-type"  # which metric names the picker scrapes
TARGET_PORT = engine.PORT  # what the pool's endpoints listen on: vLLM or the decode sidecar
DECODE_VLLM_PORT = 8200  # vLLM behind the routing sidecar (the sidecar's default)
SIDECAR_IMAGE = f"ghcr.io/llm-d/llm-d-router-disagg-sidecar:{picker.VERSION}"
KV_TRANSFER = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
# Requests naming the objective are served before (or after) requests that name none (0).
PRIORITY: Mapping[str, int] = {
    "chat": 10,
    "agent": 10,
    "rag": 10,
    "code": 10,
    "reasoning": 10,
    "summarization": 0,
    "batch": -10,
}


@dataclasses.dataclass(frozen=True)
class Pool:
    """One Deployment of model servers in the InferencePool."""

    component: str  # "vllm" (aggregated), "decode" or "prefill"
    name: str
    replicas: int
    min_replicas: int
    max_replicas: int

    @property
    def role(self) -> str | None:
        return None if self.component == "vllm" else self.component


INFERENCE_POOL = Kind(POOL_GROUP, "v1", "InferencePool", "inferencepools")
INFERENCE_OBJECTIVE = Kind("llm-d.ai", "v1alpha2", "InferenceObjective", "inferenceobjectives")
CLUSTER_SIDE = ClusterSide(
    # The pool reports conditions per gateway (status.parents), none of its own: pods decide.
    roots=(Root(INFERENCE_POOL, readiness.FROM_PODS),),
    renders=(
        INFERENCE_POOL,
        INFERENCE_OBJECTIVE,
        kinds.DEPLOYMENT,
        kinds.CONFIG_MAP,
        kinds.SERVICE_ACCOUNT,
        kinds.ROLE,
        kinds.ROLE_BINDING,
        *objects.KINDS,
        *tokens.KINDS,
        *scaling.KINDS,
    ),
    operators=(
        Operator(
            "gateway-api-inference-extension",
            INFERENCE_POOL.crd,
            # An InferencePool is acted on by the Gateway in front of it: a controller that
            # implements the inference extension (the implementations its docs list).
            Controller(
                "a Gateway controller that implements InferencePool",
                install="install a Gateway implementation with the inference extension "
                "(Istio, kgateway, GKE's Gateway or Envoy AI Gateway) and a GatewayClass it "
                "accepts",
                gateway_controllers=(
                    "istio.io/gateway-controller",
                    "kgateway.dev/kgateway",
                    "networking.gke.io/gateway",
                    "gateway.envoyproxy.io/gatewayclass-controller",
                ),
            ),
        ),
        Operator(
            "llm-d",
            INFERENCE_OBJECTIVE.crd,
            alone="its objects are read by the endpoint picker the runtime renders",
        ),
    ),
)


class LlmdRuntime:
    name = NAME
    summary = "llm-d: vLLM pools behind an InferencePool and KV/prefix-aware endpoint picker"
    # The InferencePool CRD (and a Gateway that implements it); llm-d-router's llm-d.ai CRDs.
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.MULTI_NODE: "each pool pod is a Deployment pod on one node; use lws",
        Feature.NON_NVIDIA: "renders the CUDA vLLM image and NIXL KV transfer; use kserve",
        Feature.SCALE_TO_ZERO: (
            "at zero pods no vLLM exports the metric KEDA reads and the picker holds no "
            "request while a pod starts (its flow control is not rendered)"
        ),
    }

    def render(self, plan: Plan, options: Options) -> Rendered:
        if options.exposure in ("ingress", "apisix"):
            raise InvalidInputError(
                f"An {options.exposure} route cannot send traffic to an InferencePool.",
                hint="Use `serving.exposure` httproute with a Gateway that implements the "
                "Inference Extension (Istio, kgateway, GKE, agentgateway).",
            )
        token = tokens.resolve(plan, options)
        pools = pools_for(plan, options)
        manifests: list[Manifest] = [inference_pool(plan)]
        manifests += [
            scaling.initial(plan, deployment(plan, options, p, token=token), p.replicas)
            for p in pools
        ]
        manifests += picker.objects(plan, options, disaggregated=options.disaggregated)
        manifests += [route(plan, options), objective(plan, options)]
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += monitoring(plan, options)
        for p in pools:
            manifests += _renamed(
                objects.disruption_budget(plan, options, runtime=NAME, component=p.component),
                p.name,
            )
        if scaling.wants_scaler(plan):
            manifests += [scaled_object(plan, p, options) for p in pools]
        said: list[claims.Said | str] = [*_decisions(plan, options, pools)]
        if options.exposure == "none":
            gateway = Claim(
                options.gateway,
                At("HTTPRoute", plan.name, ("spec", "parentRefs", 0, "name")),
                "Gateway {}",
            )
            said.append(
                claims.said(
                    "An InferencePool is reached only through a Gateway route: the HTTPRoute "
                    f"on {gateway} is rendered although exposure is none.",
                    gateway,
                )
            )
        return Rendered.of(NAME, manifests, said, token=token)


def pools_for(plan: Plan, options: Options) -> list[Pool]:
    """One pool, or the plan's replicas (and autoscaling range) shared by decode and prefill."""
    s = plan.autoscaling
    if not options.disaggregated:
        return [Pool("vllm", f"{plan.name}-vllm", plan.replicas, s.min_replicas, s.max_replicas)]
    split = splitting.split(plan, options)
    out = []
    for component, count in (("decode", split.decode), ("prefill", split.prefill)):
        share = count / split.total
        low = max(1, math.floor(s.min_replicas * share))
        out.append(
            Pool(
                component,
                f"{plan.name}-{component}",
                count,
                min(low, count),
                max(count, math.ceil(s.max_replicas * share)),
            )
        )
    return out


def pool_selector(plan: Plan) -> dict[str, str]:
    """The labels every model-server pod of this deployment has, and nothing else has."""
    return {labels.DEPLOYMENT: plan.name, POOL_LABEL: plan.name}


def pod_labels(plan: Plan, pool: Pool) -> dict[str, str]:
    out = labels.labels(plan, runtime=NAME, component=pool.component)
    out.update(pool_selector(plan))
    out[ENGINE_LABEL] = "vllm"
    if pool.role:
        out[ROLE_LABEL] = pool.role
    return out


def inference_pool(plan: Plan) -> Manifest:
    meta = labels.metadata(
        plan, plan.name, runtime=NAME, component="pool", annotations=labels.root_annotations(plan)
    )
    return {
        "apiVersion": POOL_API,
        "kind": "InferencePool",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": pool_selector(plan)},
            "targetPorts": [{"number": TARGET_PORT}],
            "endpointPickerRef": {
                "kind": "Service",
                "name": picker.name(plan),
                "port": {"number": picker.GRPC_PORT},
                # A picker outage degrades to plain load balancing rather than failing requests.
                "failureMode": "FailOpen",
            },
        },
    }


def deployment(plan: Plan, options: Options, pool: Pool, *, token: Token | None) -> Manifest:
    spec: dict[str, Any] = {
        "containers": [_vllm(plan, options, pool, token=token)],
        "volumes": pods.volumes(plan, options),
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        # A Service named "vllm" would inject VLLM_PORT=tcp://… and crash vLLM on start.
        "enableServiceLinks": False,
        **pods.placement(plan),
    }
    if pool.role == "decode":
        spec["initContainers"] = [_sidecar()]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": labels.metadata(plan, pool.name, runtime=NAME, component=pool.component),
        "spec": {
            **scaling.replicas(plan, pool.replicas),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "selector": {"matchLabels": labels.selector(plan, pool.component)},
            "template": {"metadata": {"labels": pod_labels(plan, pool)}, "spec": spec},
        },
    }


def _vllm(plan: Plan, options: Options, pool: Pool, *, token: Token | None) -> dict[str, Any]:
    extra: tuple[str, ...] = ()
    if pool.role:
        extra = ("--kv-transfer-config", json.dumps(KV_TRANSFER, separators=(",", ":")))
    container = pods.vllm_container(plan, options, token=token, extra_args=extra)
    if pool.role == "decode":  # the sidecar owns the pool's port
        args = container["args"]
        args[args.index("--port") + 1] = str(DECODE_VLLM_PORT)
        container["ports"][0]["containerPort"] = DECODE_VLLM_PORT
    if pool.role:
        host = {"fieldRef": {"fieldPath": "status.podIP"}}
        container["env"].append({"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "valueFrom": host})
    return container


def _sidecar() -> dict[str, Any]:
    """llm-d's routing sidecar, as a native sidecar (an init container that keeps running)."""
    return {
        "name": "routing-sidecar",
        "image": SIDECAR_IMAGE,
        "restartPolicy": "Always",
        "args": [
            f"--port={TARGET_PORT}",
            f"--vllm-port={DECODE_VLLM_PORT}",
            "--kv-connector=nixlv2",
            "--secure-proxy=false",
        ],
        "ports": [{"name": "sidecar", "containerPort": TARGET_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    }


def route(plan: Plan, options: Options) -> Manifest:
    backend = {"group": POOL_GROUP, "kind": "InferencePool", "name": plan.name}
    return objects.httproute(plan, options, runtime=NAME, backend=backend)


def objective(plan: Plan, options: Options) -> Manifest:
    return {
        "apiVersion": OBJECTIVE_API,
        "kind": "InferenceObjective",
        "metadata": labels.metadata(plan, plan.name, runtime=NAME, component="objective"),
        "spec": {
            "priority": PRIORITY[options.workload],
            "poolRef": {"group": POOL_GROUP, "kind": "InferencePool", "name": plan.name},
        },
    }


def monitoring(plan: Plan, options: Options) -> list[Manifest]:
    """vLLM's metrics from every pool pod, and the picker's own."""
    if options.monitoring == "none":
        return []
    out: list[Manifest] = []
    (servers,) = objects.monitor(plan, options, runtime=NAME, component="model-server")
    servers["spec"]["selector"] = {"matchLabels": pool_selector(plan)}
    if options.monitoring == "servicemonitor":  # a headless Service the monitor can select
        out.append(_metrics_service(plan))
    out.append(servers)
    out += _renamed(
        objects.monitor(plan, options, runtime=NAME, component=picker.COMPONENT, port="metrics"),
        picker.name(plan),
    )
    return out


def _metrics_service(plan: Plan) -> Manifest:
    meta = labels.metadata(plan, f"{plan.name}-metrics", runtime=NAME, component="model-server")
    meta["labels"].update(pool_selector(plan))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "clusterIP": "None",
            "selector": pool_selector(plan),
            # Named, so it finds vLLM on 8000 in one pool and on 8200 behind the sidecar.
            "ports": [{"name": "http", "port": TARGET_PORT, "targetPort": "http"}],
        },
    }


def scaled_object(plan: Plan, pool: Pool, options: Options) -> Manifest:
    """KEDA on vLLM's waiting requests, counted over this pool's pods only."""
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": pool.name}
    out = scaling.scaled_object(
        plan,
        runtime=NAME,
        target=target,
        component=pool.component,
        prometheus=options.prometheus,
    )
    out["metadata"]["name"] = pool.name
    out["spec"]["minReplicaCount"] = pool.min_replicas
    out["spec"]["maxReplicaCount"] = pool.max_replicas
    (trigger,) = out["spec"]["triggers"]
    trigger["metadata"]["query"] = pool_query(plan, pool)
    return out


def pool_query(plan: Plan, pool: Pool) -> str:
    where = f'model_name="{plan.model_id}",pod=~"{pool.name}-[a-z0-9]+-[a-z0-9]+"'
    if plan.namespace:
        where += f',namespace="{plan.namespace}"'
    return f"sum({plan.autoscaling.signal}{{{where}}})"


def _renamed(manifests: list[Manifest], new_name: str) -> list[Manifest]:
    for m in manifests:
        m["metadata"]["name"] = new_name
    return manifests


def _decisions(plan: Plan, options: Options, pools: list[Pool]) -> list[claims.Said]:
    out = [_routing_decision(plan, options), _priority_decision(plan, options)]
    if options.disaggregated:
        out.append(_split_decision(plan, options, pools))
    if scaling.wants_scaler(plan):
        out.append(_scaling_decision(plan, pools))
    return out


def _routing_decision(plan: Plan, options: Options) -> claims.Said:
    """The scorers and weights as the picker's config has them; prefix reuse is a reason only
    when the prefix scorer is among them."""
    config = At("ConfigMap", picker.name(plan), ("data", picker.CONFIG_FILE, Parsed()))
    weights = [
        Claim(
            weight,
            dataclasses.replace(
                config,
                path=(*config.path, "schedulingProfiles", 0, "plugins", Pick("pluginRef", scorer),
                      "weight"),
            ),
            f"{scorer} ×{{}}",
        )
        for scorer, weight in picker.weights(plan, options).items()
    ]  # fmt: skip
    if picker.PREFIX in picker.weights(plan, options):
        why = "a pod that already holds a request's prefix skips recomputing it"
    else:
        why = "prefix caching is off, so cache use and queue depth decide"
    decision = Decision(
        topic="routing",
        choice=f"endpoint picker {picker.VERSION} scoring {', '.join(map(str, weights))}",
        reason=f"weights for a {options.workload} workload; {why}",
        alternatives=(Alternative("a Service", "round-robin ignores every pod's cache"),),
    )
    return claims.said(decision, *weights)


def _priority_decision(plan: Plan, options: Options) -> claims.Said:
    priority = Claim(
        PRIORITY[options.workload],
        At("InferenceObjective", plan.name, ("spec", "priority")),
        "priority {}",
    )
    decision = Decision(
        topic="priority",
        choice=f"InferenceObjective {plan.name}, {priority}",
        reason=f"requests sending header {OBJECTIVE_HEADER}: {plan.name} are served "
        f"{'before' if PRIORITY[options.workload] > 0 else 'after'} untagged requests "
        "when the pool is saturated",
    )
    return claims.said(decision, priority)


def _pool_at(pool: Pool, *path: str | int | Pick) -> At:
    return At("Deployment", pool.name, ("spec", *path))


def _replicas_at(plan: Plan, pool: Pool) -> At:
    """Where a pool's planned count lives: its Deployment's ``replicas``, or, where KEDA owns
    that field (``scaling.replicas``), the floor its ScaledObject starts the pool at."""
    if scaling.wants_scaler(plan):
        return At("ScaledObject", pool.name, ("spec", "minReplicaCount"))
    return _pool_at(pool, "replicas")


def _split_decision(plan: Plan, options: Options, pools: list[Pool]) -> claims.Said:
    counts = [Claim(p.replicas, _replicas_at(plan, p), f"{{}} {p.component}") for p in pools]
    gpus = Claim(
        pods.gpus_per_pod(plan),
        _pool_at(pools[0], "template", "spec", "containers", Pick("name", "vllm"), "resources",
                 "limits", plan.gpu_resource),
        f"{{}}×{plan.gpu}",
    )  # fmt: skip
    decision = Decision(
        topic="disaggregation",
        choice=f"{' + '.join(map(str, counts))} pods, {gpus} each, KV over NIXL",
        reason=splitting.reason(splitting.split(plan, options)),
    )
    return claims.said(decision, *counts, gpus)


def _scaling_decision(plan: Plan, pools: list[Pool]) -> claims.Said:
    ranges = []
    stated: list[Claim] = []
    for p in pools:
        intent = dataclasses.replace(
            plan.autoscaling, min_replicas=p.min_replicas, max_replicas=p.max_replicas
        )
        said = scaling.stated(intent, name=p.name, unit="")
        low, high = said.low, dataclasses.replace(said.high, words="{}")
        ranges.append(f"{p.component} {low}–{high}")
        stated += [low, high, said.target]
    target = stated[2]
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject per pool on {plan.autoscaling.signal} (target {target} per "
            f"pod; {', '.join(ranges)})"
        ),
        reason="each pool's own pods' queue drives its size",
    )
    return claims.said(decision, *stated)
