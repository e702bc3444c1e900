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
import re
from collections.abc import Mapping
from typing import Any

from kubefoundry.planning.plans import Alternative, Autoscaling, Decision, Plan
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import ClusterSide, Controller, Kind, Operator, Root
from kubefoundry.runtimes.common import (
    claims,
    engine,
    labels,
    objects,
    pods,
    readiness,
    scaling,
    splitting,
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim, Pick

NAME = "dynamo"
API_VERSION = "nvidia.com/v1beta1"
KIND = "DynamoGraphDeployment"
ADAPTER_KIND = "DynamoGraphDeploymentScalingAdapter"
# The release of the runtime image (and of runtimeVersionOverride); the saved CRD schemas
# are upstream main just after 1.4.0 (checks/data/crds/INDEX.md).
DYNAMO_VERSION = "1.6.1"
IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime"
# The vLLM that image runs: ai-dynamo 1.6.1's `vllm` extra pins vllm[flashinfer,otel,runai]
# ==0.31.0 (PyPI); the plan is made for it (choosing.with_bundled_vllm).
VLLM_VERSION = "0.31.0"
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
    "code": "completions resend the file around the cursor at every keystroke",
    "summarization": "summaries share long system instructions and often the same document",
    "reasoning": "follow-up questions resend the conversation and its long answers",
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


GRAPH = Kind("nvidia.com", "v1beta1", KIND, "dynamographdeployments")
CLUSTER_SIDE = ClusterSide(
    roots=(
        Root(
            GRAPH,
            readiness.State(
                "state", ("successful", "ready", "Ready"), readiness.Conditions(("Ready",))
            ),
        ),
    ),
    renders=(GRAPH, *objects.KINDS, *tokens.KINDS, *scaling.KINDS),
    operators=(
        Operator(
            "dynamo",
            GRAPH.crd,
            # The dynamo-platform chart runs the operator with --leader-elect and
            # --leader-election-id=dynamo.nvidia.com (its default), pods labelled as below.
            Controller(
                "the Dynamo operator",
                install="install the dynamo-platform Helm chart (its dynamo-operator) or "
                "start the operator",
                leases=("dynamo.nvidia.com",),
                pods=("app.kubernetes.io/name=dynamo-operator,control-plane=controller-manager",),
            ),
        ),
    ),
)


class DynamoRuntime:
    name = NAME
    summary = "NVIDIA Dynamo graph (Frontend + vLLM workers), aggregated or prefill/decode split"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.SCALE_TO_ZERO: (
            "when every worker is gone the Frontend drops the model and answers 404, so no "
            "demand signal is left to scale back up; keep at least one worker"
        ),
        Feature.NON_NVIDIA: "renders Dynamo's CUDA vLLM runtime image",
    }

    def bundled_vllm(self, options: Options) -> str | None:
        """The vLLM in our runtime image; an image of the user's brings one we do not know."""
        return None if options.image else VLLM_VERSION

    def render(self, plan: Plan, options: Options) -> Rendered:
        token = tokens.resolve(plan, options)
        roles, split = worker_roles(plan, options)
        scaled = next((r for r in roles if r.scaled), None) if scaling.wants_scaler(plan) else None
        intent = scaled_intent(plan, roles=roles, scaled=scaled) if scaled else None
        mode, router = choose_router(plan, options, roles=roles, intent=intent)
        said: list[claims.Said | Decision | str] = [router, _image_decision(plan, options)]
        if split:
            said.append(split)
        manifests: list[Manifest] = [graph(plan, options, roles=roles, router=mode, token=token)]
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += objects.route(
            plan, options, runtime=NAME, service_name=frontend_service(plan), port=FRONTEND_PORT
        )
        manifests += monitor(plan, options)
        if not options.disaggregated:
            manifests += objects.disruption_budget(
                plan, options, runtime=NAME, component=roles[0].label
            )
        if scaled and intent:
            manifests.append(
                scaled_object(plan, scaled=scaled, intent=intent, prometheus=options.prometheus)
            )
            said.append(_scaling_decision(plan, scaled, intent))
        said += _warnings(plan, options, roles=roles)
        return Rendered.of(NAME, manifests, said, token=token)


def frontend_service(plan: Plan) -> str:
    """The Service the operator creates for the Frontend: ``<graph>-<component>``."""
    return f"{plan.name}-{FRONTEND.lower()}"


def adapter_name(plan: Plan, role: Role) -> str:
    """The DGDSA the operator creates for a component with ``scalingAdapter`` set."""
    return f"{plan.name}-{role.component.lower()}"


def adapted_components(graph: Mapping[str, Any]) -> dict[str, str]:
    """The DGDSAs the operator creates for a DynamoGraphDeployment, by name → component.

    The operator's rule: one adapter, ``<graph>-<component lower-cased>``, per component that
    opts in. ``nvidia.com/v1beta1`` (``spec.components``) opts in by presence: any
    ``scalingAdapter`` object, ``{}`` included. ``nvidia.com/v1alpha1`` (``spec.services``)
    needs ``scalingAdapter: {enabled: true}``: ``enabled`` defaults to false, so a bare ``{}``
    creates none. Anything else: none.
    """

    def field(node: Any, key: str) -> Any:  # user YAML: any node may have any shape
        return node.get(key) if isinstance(node, Mapping) else None

    name = str(field(field(graph, "metadata"), "name") or "")
    spec = field(graph, "spec")
    opted: list[str] = []
    if str(field(graph, "apiVersion") or "").endswith("/v1alpha1"):
        services = field(spec, "services")
        for service, svc in services.items() if isinstance(services, Mapping) else ():
            if field(field(svc, "scalingAdapter"), "enabled") is True:
                opted.append(str(service))
    else:
        components = field(spec, "components")
        for c in components if isinstance(components, list) else ():
            if isinstance(field(c, "scalingAdapter"), Mapping) and field(c, "name"):
                opted.append(str(field(c, "name")))
    return {f"{name}-{component.lower()}": component for component in opted}


# --- the graph ------------------------------------------------------------------------------


def graph(
    plan: Plan, options: Options, *, roles: list[Role], router: str, token: Token | None
) -> Manifest:
    components = [frontend(plan, options, router=router, token=token)]
    components += [worker(plan, options, role=r, router=router, token=token) for r in roles]
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


def frontend(plan: Plan, options: Options, *, router: str, token: Token | None) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": image(options),
        "env": [{"name": ROUTER_ENV, "value": router}, *tokens.env(token)],
    }
    return _component(
        plan, options, name=FRONTEND, type_="frontend", replicas=1, spec={"containers": [container]}
    )


def worker(
    plan: Plan, options: Options, *, role: Role, router: str, token: Token | None
) -> dict[str, Any]:
    container = worker_container(
        plan, options, role=role, kv_events=_kv_events(role, router), token=token
    )
    spec: dict[str, Any] = {
        "containers": [container],
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **pods.placement(plan),
    }
    if options.cache.enabled:
        spec["volumes"] = [_cache_volume(plan)]
    adapted = role.scaled and scaling.wants_scaler(plan)
    # The adapter owns an adapted component's replicas (the webhook refuses a changed count):
    # leave the field to it, as the Deployments leave theirs to KEDA (scaling.replicas).
    component = _component(
        plan,
        options,
        name=role.component,
        type_=role.type,
        replicas=None if adapted else role.replicas,
        spec=spec,
    )
    component["sharedMemorySize"] = f"{engine.SHM_GIB}Gi"
    if plan.nodes_per_replica > 1:
        component["multinode"] = {"nodeCount": plan.nodes_per_replica}
    if adapted:
        # v1beta1 opts in by presence: ``{}`` creates the DGDSA (v1alpha1's ``enabled: true``
        # converts to it; v1beta1 has no ``enabled`` field, the API server prunes one).
        component["scalingAdapter"] = {}
    return component


def _component(
    plan: Plan,
    options: Options,
    *,
    name: str,
    type_: str,
    replicas: int | None,
    spec: dict[str, Any],
) -> dict[str, Any]:
    component: dict[str, Any] = {
        "name": name,
        "type": type_,
        **({} if replicas is None else {"replicas": replicas}),
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
    plan: Plan, options: Options, *, role: Role, kv_events: bool, token: Token | None
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
        "env": engine.env(plan, token_env=tokens.env(token), cache=options.cache.enabled),
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


def worker_roles(plan: Plan, options: Options) -> tuple[list[Role], claims.Said | None]:
    """One worker pool, or decode and prefill pools splitting the plan's replicas."""
    if not options.disaggregated:
        return [Role("VllmDecodeWorker", "worker", plan.replicas)], None
    split = splitting.split(plan, options)
    roles = [
        Role("VllmDecodeWorker", "decode", split.decode, disaggregation="decode"),
        Role("VllmPrefillWorker", "prefill", split.prefill, disaggregation="prefill"),
    ]
    decode, prefill = (_replicas_claim(plan, r, words=f"{{}} {r.type}") for r in roles)
    gpus = _gpus_claim(plan, roles[0])
    decision = Decision(
        topic="disaggregation",
        choice=f"{decode} + {prefill} workers, {gpus} per worker pod",
        reason=splitting.reason(split),
        alternatives=(
            Alternative("aggregated workers", "you asked for prefill/decode disaggregation"),
        ),
    )
    return roles, claims.said(decision, decode, prefill, gpus)


def _component_at(plan: Plan, role: Role, *path: str | int | Pick) -> At:
    return At(KIND, plan.name, ("spec", "components", Pick("name", role.component), *path))


def _replicas_claim(plan: Plan, role: Role, *, words: str) -> Claim:
    """A pool's planned count: its ``replicas``, or, where the scaling adapter owns that
    field, the floor the ScaledObject holds the pool at."""
    if role.scaled and scaling.wants_scaler(plan):
        return Claim(role.replicas, _scaler_at(plan, "minReplicaCount"), words)
    return Claim(role.replicas, _component_at(plan, role, "replicas"), words)


def _gpus_claim(plan: Plan, role: Role) -> Claim:
    """The GPUs one worker pod holds (a multinode worker has ``nodeCount`` such pods)."""
    where = _component_at(
        plan,
        role,
        "podTemplate",
        "spec",
        "containers",
        Pick("name", "main"),
        "resources",
        "limits",
        plan.gpu_resource,
    )
    return Claim(pods.gpus_per_pod(plan), where, f"{{}}×{plan.gpu}")


def choose_router(
    plan: Plan, options: Options, *, roles: list[Role], intent: Autoscaling | None
) -> tuple[str, claims.Said]:
    """``kv`` when requests share prefixes and there is more than one worker to pick from."""
    routed = next(r for r in roles if r.routed)
    pool = "worker" if routed.type == "worker" else f"{routed.type} worker"
    if routed.scaled and intent:  # the most workers the router may choose between
        count, at = intent.max_replicas, _scaler_at(plan, "maxReplicaCount")
    else:
        count, at = routed.replicas, _component_at(plan, routed, "replicas")
    workers = Claim(count, at, f"{{}} {pool}" + ("s" if count > 1 else ""))
    stated = [workers]
    kv_loses = "KV-aware routing would track every worker's cache for no gain"
    if options.workload == "batch":
        mode, reason = "round-robin", "batch jobs share few prefixes and want even load, not TTFT"
        stated = []
    elif not plan.prefix_caching:
        mode, reason = "round-robin", "prefix caching is off, so there is no cached prefix to reuse"
        stated = []
    elif count < 2:
        mode, reason = "round-robin", f"only {workers}: nothing to choose between"
    else:
        mode = "kv"
        reason = (
            f"{_WHY_PREFIXES[options.workload]}; the KV router sends each request to the "
            f"{pool} already holding its prefix (up to {workers}), cutting prefill work and "
            "time to first token"
        )
        kv_loses = "round-robin ignores cached prefixes: every worker recomputes shared prompts"
    other = "round-robin" if mode == "kv" else "kv"
    env = At(
        KIND,
        plan.name,
        ("spec", "components", Pick("name", FRONTEND), "podTemplate", "spec", "containers",
         Pick("name", "main"), "env", Pick("name", ROUTER_ENV), "value"),
    )  # fmt: skip
    chosen = Claim(mode, env, f"{{}} ({ROUTER_ENV} on the Frontend)")
    decision = Decision(
        topic="router mode",
        choice=str(chosen),
        reason=reason,
        alternatives=(Alternative(other, kv_loses),),
    )
    return mode, claims.said(decision, chosen, *stated)


def _image_decision(plan: Plan, options: Options) -> claims.Said:
    ref = Claim(
        image(options),
        At(KIND, plan.name, ("spec", "components", Pick("name", FRONTEND), "podTemplate",
                             "spec", "containers", Pick("name", "main"), "image")),
    )  # fmt: skip
    decision = Decision(
        topic="image",
        choice=str(ref),
        reason=_image_reason(plan, options),
    )
    return claims.said(decision, ref)


def _image_reason(plan: Plan, options: Options) -> str:
    if options.image:
        return (
            f"your image; its vLLM build is its own, the plan's vLLM {plan.engine_version} "
            "sized memory only"
        )
    if plan.engine_version == VLLM_VERSION:
        return (
            f"Dynamo {DYNAMO_VERSION}'s runtime image runs vLLM {VLLM_VERSION}, the release "
            "the plan sized memory for"
        )
    return (
        f"Dynamo {DYNAMO_VERSION}'s runtime image runs vLLM {VLLM_VERSION}; the plan's vLLM "
        f"{plan.engine_version} sized memory only"
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


def scaled_intent(plan: Plan, *, roles: list[Role], scaled: Role) -> Autoscaling:
    """The plan's autoscaling range for the pool KEDA scales: the other pool keeps its planned
    replicas, so it comes off the plan's maximum (and the minimum stays within the pool)."""
    fixed = sum(r.replicas for r in roles if r is not scaled)  # prefill stays as planned
    s = plan.autoscaling
    return dataclasses.replace(
        s,
        min_replicas=min(s.min_replicas, scaled.replicas) if fixed else s.min_replicas,
        max_replicas=max(scaled.replicas, s.max_replicas - fixed),
    )


def scaled_object(plan: Plan, *, scaled: Role, intent: Autoscaling, prometheus: str) -> Manifest:
    """KEDA on vLLM's waiting requests, scaling the worker pool through its DGDSA."""
    target = {"apiVersion": API_VERSION, "kind": ADAPTER_KIND, "name": adapter_name(plan, scaled)}
    return scaling.scaled_object(
        dataclasses.replace(plan, autoscaling=intent),
        runtime=NAME,
        target=target,
        component=scaled.label,
        prometheus=prometheus,
    )


def _scaler_at(plan: Plan, *path: str | int) -> At:
    return At("ScaledObject", plan.name, ("spec", *path))


def _scaling_decision(plan: Plan, scaled: Role, intent: Autoscaling) -> claims.Said:
    said = scaling.stated(intent, name=plan.name, unit="workers")
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject → {ADAPTER_KIND} of {scaled.component}, {said.low}–{said.high}, "
            f"{intent.signal} target {said.target} per worker, {said.cooldown}"
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
    return claims.said(decision, *said.all)


def _warnings(plan: Plan, options: Options, *, roles: list[Role]) -> list[claims.Said | str]:
    out: list[claims.Said | str] = [PRE_GA]
    if plan.nodes_per_replica > 1:
        nodes = Claim(
            plan.nodes_per_replica, _component_at(plan, roles[0], "multinode", "nodeCount")
        )
        out.append(
            claims.said(
                f"Each worker spans {nodes} nodes (multinode): the Dynamo platform must be "
                "installed with Grove (or LeaderWorkerSet) for multinode components.",
                nodes,
            )
        )
    deployed = sum(r.replicas for r in roles)
    if deployed > plan.replicas:
        gpus = f"{deployed * plan.gpu_count} GPUs where the plan priced "
        out.append(
            f"Disaggregated serving needs a decode and a prefill worker: this deploys {deployed} "
            f"workers, {gpus}{plan.replicas * plan.gpu_count}."
        )
    return out
