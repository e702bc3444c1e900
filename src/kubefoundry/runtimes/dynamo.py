"""NVIDIA Dynamo: one DynamoGraphDeployment (``nvidia.com/v1beta1``), aggregated or
disaggregated, with the Frontend's router mode chosen from the workload.

Aggregated: a Frontend plus one pool of vLLM workers that prefill and decode. Disaggregated:
a Frontend, decode workers and prefill workers that hand KV caches over NIXL. Every worker runs
``python3 -m dynamo.vllm`` with the plan's engine flags (tensor/pipeline parallel, context,
memory share, dtype) and holds the plan's GPUs per pod; a replica that spans nodes becomes a
``multinode`` component. Autoscaling goes through the operator's scaling adapter (DGDSA),
driven by a KEDA ScaledObject.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered
from kubefoundry.runtimes.common import engine, labels, objects, pods, scaling

NAME = "dynamo"
API_VERSION = "nvidia.com/v1beta1"
KIND = "DynamoGraphDeployment"
ADAPTER_KIND = "DynamoGraphDeploymentScalingAdapter"
DYNAMO_VERSION = "1.4.0"  # the release the saved CRD schemas belong to
IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime"
FRONTEND = "Frontend"
FRONTEND_PORT = 8000  # the operator's Frontend Service and HTTP port
SYSTEM_PORT = 9090  # the operator's worker status port: /live and /health
ROUTER_ENV = "DYN_ROUTER_MODE"
KV_TRANSFER = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
KV_EVENTS = {
    "publisher": "zmq",
    "topic": "kv-events",
    "endpoint": "tcp://*:20080",
    "enable_kv_cache_events": True,
}
PRE_GA = (
    "DynamoGraphDeployment is a pre-GA API: rendered as nvidia.com/v1beta1 (the storage "
    "version since Dynamo 1.4); nvidia.com/v1alpha1 and its spec.services form are deprecated. "
    "Fields may still change between Dynamo releases: pin the operator version and re-render "
    "after upgrading it."
)
_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+")
_WHY_PREFIXES = {
    "chat": "multi-turn chats resend the whole conversation",
    "rag": "system prompts and retrieved documents repeat across queries",
    "agent": "agent loops resend a growing context at every step",
}


@dataclasses.dataclass(frozen=True)
class Role:
    """One worker pool of the graph."""

    component: str  # the DGD component name (the operator lower-cases it for child objects)
    type: str  # the CRD's component type: worker, decode or prefill
    replicas: int
    disaggregation: str | None = None  # --disaggregation-mode, when disaggregated

    @property
    def label(self) -> str:
        return self.type

    @property
    def routed(self) -> bool:
        """The Frontend routes new requests (and their prefixes) to this pool."""
        return self.type in ("worker", "prefill")

    @property
    def scaled(self) -> bool:
        """The pool the autoscaler grows: the one that holds the generation queue."""
        return self.type in ("worker", "decode")


class DynamoRuntime:
    name = NAME
    summary = "NVIDIA Dynamo graph (Frontend + vLLM workers), aggregated or prefill/decode split"
    requires: tuple[str, ...] = ("dynamo",)
    limits: Mapping[Feature, str] = {
        Feature.SCALE_TO_ZERO: (
            "when every worker is gone the Frontend drops the model and answers 404, so no "
            "demand signal is left to scale back up; keep at least one worker"
        ),
        Feature.NON_NVIDIA: "renders Dynamo's CUDA vLLM runtime image",
    }

    def render(self, plan: Plan, options: Options) -> Rendered:
        roles, split = worker_roles(plan, options)
        mode, router = choose_router(plan, options, roles=roles)
        decisions = [router, _image_decision(plan, options)]
        if split:
            decisions.append(split)
        manifests: list[Manifest] = [graph(plan, options, roles=roles, router=mode)]
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += objects.token_objects(plan, options, runtime=NAME)
        manifests += objects.route(
            plan, options, runtime=NAME, service_name=frontend_service(plan), port=FRONTEND_PORT
        )
        manifests += monitor(plan, options)
        if not options.disaggregated:
            manifests += objects.disruption_budget(
                plan, options, runtime=NAME, component=roles[0].label
            )
        if scaling.wants_scaler(plan):
            scaled = next(r for r in roles if r.scaled)
            manifests.append(scaled_object(plan, roles=roles, scaled=scaled))
            decisions.append(_scaling_decision(plan, scaled))
        return Rendered(
            runtime=NAME,
            manifests=tuple(manifests),
            decisions=tuple(decisions),
            warnings=tuple(_warnings(plan, options)),
        )


def frontend_service(plan: Plan) -> str:
    """The Service the operator creates for the Frontend: ``<graph>-<component>``."""
    return f"{plan.name}-{FRONTEND.lower()}"


def adapter_name(plan: Plan, role: Role) -> str:
    """The DGDSA the operator creates for a component with ``scalingAdapter`` set."""
    return f"{plan.name}-{role.component.lower()}"


# --- the graph ------------------------------------------------------------------------------


def graph(plan: Plan, options: Options, *, roles: list[Role], router: str) -> Manifest:
    components = [frontend(plan, options, router=router)]
    components += [worker(plan, options, role=r, router=router) for r in roles]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": labels.metadata(
            plan,
            plan.name,
            runtime=NAME,
            component="graph",
            annotations=labels.root_annotations(plan),
        ),
        "spec": {"backendFramework": "vllm", "components": components},
    }


def frontend(plan: Plan, options: Options, *, router: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": image(options),
        "env": [{"name": ROUTER_ENV, "value": router}, *pods.token_env(plan, options)],
    }
    return _component(
        plan, options, name=FRONTEND, type_="frontend", replicas=1, spec={"containers": [container]}
    )


def worker(plan: Plan, options: Options, *, role: Role, router: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            worker_container(plan, options, role=role, kv_events=_kv_events(role, router))
        ],
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **pods.placement(plan),
    }
    if options.cache.enabled:
        spec["volumes"] = [_cache_volume(plan)]
    component = _component(
        plan, options, name=role.component, type_=role.type, replicas=role.replicas, spec=spec
    )
    component["sharedMemorySize"] = f"{engine.SHM_GIB}Gi"
    if plan.nodes_per_replica > 1:
        component["multinode"] = {"nodeCount": plan.nodes_per_replica}
    if role.scaled and scaling.wants_scaler(plan):
        component["scalingAdapter"] = {}
    return component


def _component(
    plan: Plan, options: Options, *, name: str, type_: str, replicas: int, spec: dict[str, Any]
) -> dict[str, Any]:
    component: dict[str, Any] = {
        "name": name,
        "type": type_,
        "replicas": replicas,
        "podTemplate": {
            "metadata": {"labels": labels.labels(plan, runtime=NAME, component=type_)},
            "spec": spec,
        },
    }
    if not _SEMVER.match(engine.image_tag(image(options))):
        # Admission needs the runtime version when the image tag does not carry it.
        component["runtimeVersionOverride"] = DYNAMO_VERSION
    return component


def image(options: Options) -> str:
    return options.image or f"{IMAGE}:{DYNAMO_VERSION}"


def worker_container(
    plan: Plan, options: Options, *, role: Role, kv_events: bool
) -> dict[str, Any]:
    resources = pods.resources(plan)
    if not options.cache.enabled:
        # Weights land on the container's disk: ask for room for them.
        resources["requests"]["ephemeral-storage"] = f"{objects.cache_size_gib(plan, options)}Gi"
    container: dict[str, Any] = {
        "name": "main",
        "image": image(options),
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": worker_args(plan, role=role, kv_events=kv_events),
        "env": engine.env(
            plan, token_env=pods.token_env(plan, options), cache=options.cache.enabled
        ),
        "resources": resources,
        **probes(plan),
    }
    if options.cache.enabled:
        container["volumeMounts"] = [{"name": pods.CACHE_VOLUME, "mountPath": engine.CACHE_PATH}]
    return container


def worker_args(plan: Plan, *, role: Role, kv_events: bool) -> list[str]:
    """``dynamo.vllm`` flags: the model, the plan's engine flags, then the worker's role."""
    out = ["--model", plan.model_id, *engine_flags(plan)]
    if role.disaggregation:
        out += ["--disaggregation-mode", role.disaggregation]
        out += ["--kv-transfer-config", _json(KV_TRANSFER)]
    if kv_events:
        out += ["--kv-events-config", _json(KV_EVENTS)]
    return out


def engine_flags(plan: Plan) -> list[str]:
    """``vllm serve`` flags from the plan, without ``--port``: workers serve no HTTP."""
    args = engine.args(plan)
    at = args.index("--port")
    return args[:at] + args[at + 2 :]


def probes(plan: Plan) -> dict[str, Any]:
    """The plan's probes on the worker status port: the startup budget covers the cold start;
    readiness asks ``/health`` (the engine answers), liveness ``/live`` (the process runs)."""
    out = pods.probes(plan, port=SYSTEM_PORT, path="/live")
    out["readinessProbe"]["httpGet"]["path"] = "/health"
    return out


def _cache_volume(plan: Plan) -> dict[str, Any]:
    claim = {"claimName": pods.cache_claim_name(plan)}
    return {"name": pods.CACHE_VOLUME, "persistentVolumeClaim": claim}


def _kv_events(role: Role, router: str) -> bool:
    """The KV router learns which prefixes a worker holds from the events it publishes."""
    return router == "kv" and role.routed


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- choices --------------------------------------------------------------------------------


def worker_roles(plan: Plan, options: Options) -> tuple[list[Role], Decision | None]:
    """One worker pool, or decode and prefill pools splitting the plan's replicas."""
    if not options.disaggregated:
        return [Role("VllmDecodeWorker", "worker", plan.replicas)], None
    total = max(plan.replicas, 2)
    prefill = math.ceil(total / 2) if options.workload == "rag" else total // 2
    decode = total - prefill
    roles = [
        Role("VllmDecodeWorker", "decode", decode, disaggregation="decode"),
        Role("VllmPrefillWorker", "prefill", prefill, disaggregation="prefill"),
    ]
    if options.workload == "rag":
        why = "RAG prompts are long and answers short, so prefill gets the larger share"
    else:
        why = f"{options.workload} answers stream for long, so decode gets the larger share"
    extra = "" if plan.replicas >= 2 else "; a split needs two workers, one more than planned"
    decision = Decision(
        topic="disaggregation",
        choice=f"{decode} decode + {prefill} prefill workers, {plan.gpu_count}×{plan.gpu} each",
        reason=f"{why}{extra}",
        alternatives=(
            Alternative("aggregated workers", "you asked for prefill/decode disaggregation"),
        ),
    )
    return roles, decision


def choose_router(plan: Plan, options: Options, *, roles: list[Role]) -> tuple[str, Decision]:
    """``kv`` when requests share prefixes and there is more than one worker to pick from."""
    routed = next(r for r in roles if r.routed)
    scales = routed.scaled and scaling.wants_scaler(plan)
    workers = max(routed.replicas, plan.autoscaling.max_replicas if scales else 0)
    kv_loses = "KV-aware routing would track every worker's cache for no gain"
    if options.workload == "batch":
        mode, reason = "round-robin", "batch jobs share few prefixes and want even load, not TTFT"
    elif not plan.prefix_caching:
        mode, reason = "round-robin", "prefix caching is off, so there is no cached prefix to reuse"
    elif workers < 2:
        mode, reason = "round-robin", f"one {routed.type} worker leaves nothing to choose between"
    else:
        mode = "kv"
        pool = "" if routed.type == "worker" else f"{routed.type} "
        reason = (
            f"{_WHY_PREFIXES[options.workload]}; the KV router sends each request to the "
            f"{pool}worker already holding its prefix (up to {workers} {pool}workers), "
            "cutting prefill work and time to first token"
        )
        kv_loses = "round-robin ignores cached prefixes: every worker recomputes shared prompts"
    other = "round-robin" if mode == "kv" else "kv"
    decision = Decision(
        topic="router mode",
        choice=f"{mode} ({ROUTER_ENV} on the Frontend)",
        reason=reason,
        alternatives=(Alternative(other, kv_loses),),
    )
    return mode, decision


def _image_decision(plan: Plan, options: Options) -> Decision:
    return Decision(
        topic="image",
        choice=image(options),
        reason=(
            f"Dynamo's runtime image ships the vLLM build Dynamo {DYNAMO_VERSION} is tested with; "
            f"the plan's vLLM {plan.engine_version} sized memory only"
        ),
    )


# --- around the graph -----------------------------------------------------------------------


def monitor(plan: Plan, options: Options) -> list[Manifest]:
    """One PodMonitor for the Frontend (``http``) and the workers (``system``): the operator
    gives workers no Service of ours, so a ServiceMonitor has nothing to select."""
    if options.monitoring == "none":
        return []
    endpoints = [
        {"port": port, "path": "/metrics", "interval": "15s"} for port in ("http", "system")
    ]
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": labels.metadata(plan, plan.name, runtime=NAME, component="monitoring"),
            "spec": {
                "selector": {"matchLabels": {labels.DEPLOYMENT: plan.name}},
                "podMetricsEndpoints": endpoints,
            },
        }
    ]


def scaled_object(plan: Plan, *, roles: list[Role], scaled: Role) -> Manifest:
    """KEDA on vLLM's waiting requests, scaling the worker pool through its DGDSA."""
    fixed = sum(r.replicas for r in roles if r is not scaled)  # prefill stays as planned
    s = plan.autoscaling
    intent = dataclasses.replace(
        s,
        min_replicas=min(s.min_replicas, scaled.replicas) if fixed else s.min_replicas,
        max_replicas=max(scaled.replicas, s.max_replicas - fixed),
    )
    target = {"apiVersion": API_VERSION, "kind": ADAPTER_KIND, "name": adapter_name(plan, scaled)}
    return scaling.scaled_object(
        dataclasses.replace(plan, autoscaling=intent),
        runtime=NAME,
        target=target,
        component=scaled.label,
    )


def _scaling_decision(plan: Plan, scaled: Role) -> Decision:
    s = plan.autoscaling
    return Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject → {ADAPTER_KIND} of {scaled.component}, {s.signal} target "
            f"{s.target:g} per worker, cool-down {s.cooldown_s}s"
        ),
        reason=(
            "the operator's scaling adapter owns the component's replicas, so KEDA and the "
            "operator never fight over them; waiting requests rise before latency does"
        ),
        alternatives=(
            Alternative(
                "Dynamo SLA planner", "needs a profiling run of this model on this GPU first"
            ),
        ),
    )


def _warnings(plan: Plan, options: Options) -> list[str]:
    out = [PRE_GA]
    if plan.nodes_per_replica > 1:
        out.append(
            f"Each worker spans {plan.nodes_per_replica} nodes (multinode): the Dynamo platform "
            "must be installed with Grove (or LeaderWorkerSet) for multinode components."
        )
    if options.disaggregated and plan.replicas < 2:
        out.append(
            f"Disaggregated serving needs a decode and a prefill worker: this deploys "
            f"{2 * plan.gpu_count} GPUs where the plan priced {plan.gpu_count}."
        )
    return out
