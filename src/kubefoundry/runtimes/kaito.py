"""KAITO: a Workspace (``kaito.sh/v1beta1``), or an InferenceSet of them when the plan has
several replicas or scales, plus the ConfigMap whose ``inference_config.yaml`` carries the
plan's vLLM settings.

Where the nodes come from decides most fields. On Azure KAITO provisions GPU nodes itself: the
instance type is the KAITO-supported Azure SKU holding one replica's GPUs per node, and the
label selector is a label KAITO stamps on the nodes it creates. Elsewhere KAITO runs on
existing nodes (its auto-provisioning off): no instance type, and the selector is the GPU
label those nodes already carry. ``resource.count`` is nodes per replica, never replicas.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import yaml

from kubefoundry.catalog import instances
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Alternative, Decision, Plan
from kubefoundry.runtimes import kaito_sizing
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import (
    ClusterSide,
    Controller,
    Kind,
    NodeLabels,
    Operator,
    Root,
)
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
from kubefoundry.runtimes.common.claims import At, Claim, Parsed
from kubefoundry.runtimes.kaito_nodes import AZURE_SKU_GPU_MEMORY, AZURE_SKUS, Nodes, nodes

NAME = "kaito"
API_VERSION = "kaito.sh/v1beta1"
CONFIG_KEY = "inference_config.yaml"  # the only key KAITO reads; any other is ignored silently
TOKEN_KEY = "HF_TOKEN"  # the key KAITO reads from presetOptions.modelAccessSecret
SERVER_PORT = "http"  # KAITO's inference container port (5000), behind Service port 80
SERVICE_PORT = 80
WORKSPACE_LABEL = "kaito.sh/workspace"
INFERENCESET_LABEL = "inferenceset.kaito.sh/created-by"
POD_INDEX = "apps.kubernetes.io/pod-index"  # pod 0 serves the API on multi-node replicas
SCALER = "scaledobject.kaito.sh/"  # annotations read by the KEDA KAITO scaler
KAITO_STARTUP_S = 1800  # KAITO's startup probe budget for models without a preset timeout
# KAITO v0.12 presets (presets/workspace/models/supported_models.yaml) by Hugging Face id.
# Any other model is passed by its Hugging Face id, which v0.12 serves with vLLM as well.
PRESETS = {
    "meta-llama/llama-3.1-8b-instruct": "llama-3.1-8b-instruct",
    "meta-llama/llama-3.3-70b-instruct": "llama-3.3-70b-instruct",
    "mistralai/mistral-7b-instruct-v0.3": "mistral-7b-instruct",
    "microsoft/phi-3-mini-4k-instruct": "phi-3-mini-4k-instruct",
    "microsoft/phi-3.5-mini-instruct": "phi-3.5-mini-instruct",
    "microsoft/phi-4-mini-instruct": "phi-4-mini-instruct",
    "microsoft/phi-4": "phi-4",
    "deepseek-ai/deepseek-r1-distill-llama-8b": "deepseek-r1-distill-llama-8b",
    "deepseek-ai/deepseek-r1-distill-qwen-14b": "deepseek-r1-distill-qwen-14b",
    "qwen/qwen2.5-coder-7b-instruct": "qwen2.5-coder-7b-instruct",
    "google/gemma-3-4b-it": "gemma-3-4b-instruct",
    "google/gemma-3-27b-it": "gemma-3-27b-instruct",
    "openai/gpt-oss-20b": "gpt-oss-20b",
    "openai/gpt-oss-120b": "gpt-oss-120b",
}
# The taints KAITO's pods tolerate, by key, as the warning about any other names them.
_KAITO_TOLERATES = {
    "nvidia.com/gpu": "nvidia.com/gpu",
    "sku": "sku=gpu",
    "kubernetes.azure.com/scalesetpriority": "kubernetes.azure.com/scalesetpriority",
}
_NOT_IN_CONFIG = ("served-model-name", "port")  # KAITO sets these on its own command line


WORKSPACE = Kind("kaito.sh", "v1beta1", "Workspace", "workspaces")
INFERENCE_SET = Kind("kaito.sh", "v1beta1", "InferenceSet", "inferencesets")
_READY = readiness.Conditions(("Ready", "InferenceReady", "WorkspaceSucceeded"))
CLUSTER_SIDE = ClusterSide(
    roots=(Root(WORKSPACE, _READY), Root(INFERENCE_SET, _READY)),
    renders=(WORKSPACE, INFERENCE_SET, kinds.CONFIG_MAP, *objects.KINDS, *tokens.KINDS),
    operators=(
        Operator(
            "kaito",
            WORKSPACE.crd,
            # cmd/workspace/main.go's LeaderElectionID; the workspace Helm chart's pod label
            # and webhook Service (<release>-svc, the release named kaito-workspace).
            Controller(
                "KAITO's workspace controller",
                install="install KAITO's workspace controller (helm install kaito-workspace "
                "from charts/kaito/workspace) or start it",
                leases=("ef60f9b0.io",),
                pods=("app.kubernetes.io/name=workspace",),
                webhook_services=("kaito-workspace-svc",),
            ),
        ),
    ),
    # On existing nodes ("bring your own", everywhere but Azure) KAITO reads the GPU shape
    # from GPU feature discovery's labels and refuses nodes without them.
    node_labels=NodeLabels(
        keys=("nvidia.com/gpu.product", "nvidia.com/gpu.count", "nvidia.com/gpu.memory"),
        why="KAITO reads the GPU shape of existing nodes from them",
        fix="run NVIDIA GPU feature discovery (the GPU Operator) on that pool, or pick another "
        "`gpu` whose nodes carry them",
        unless_cloud=("azure",),
    ),
)


class KaitoRuntime:
    name = NAME
    summary = "KAITO Workspace or InferenceSet with a vLLM inference_config.yaml ConfigMap"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.DISAGGREGATED: (
            "a Workspace prefills and decodes in one pod; KAITO's split (MultiRoleInference) "
            "is an alpha API this renderer does not write"
        ),
        Feature.SCALE_TO_ZERO: (
            "KAITO's KEDA scaler keeps at least one replica (min-replicas below 1 count as 1), "
            "and with none left no waiting-request metric remains to scale up on"
        ),
        Feature.KV_ROUTING: (
            "each replica has its own Service; KV-aware routing needs the Gateway API "
            "Inference Extension in front of an InferenceSet"
        ),
        Feature.NON_NVIDIA: "KAITO's vLLM presets and node discovery read NVIDIA GPU labels",
    }

    # The planner buys only machines KAITO can provision itself (rendering.plan, when pinned).
    provisions: Mapping[str, frozenset[str]] = MappingProxyType({"azure": AZURE_SKUS})

    def __init__(self, catalog: instances.InstanceCatalog | None = None) -> None:
        self._catalog = catalog

    def refuse(self, plan: Plan, options: Options) -> str | None:
        """Plan-specific limits: no SKU KAITO can provision, no node label to select."""
        try:
            nodes(plan, self._catalog or instances.load())
        except InvalidInputError as exc:
            return exc.message
        return None

    def resize(self, plan: Plan) -> Plan:
        """The plan with the nodes per replica KAITO's node estimator will pick, which
        overrides ours (``kaito_sizing``); unchanged for a plan KAITO refuses anyway."""
        catalog = self._catalog or instances.load()
        try:
            where = nodes(plan, catalog)
        except InvalidInputError:
            return plan
        name, sku = where.instance_type, None
        if name is not None and name in AZURE_SKU_GPU_MEMORY:
            sku = kaito_sizing.Sku(name, *AZURE_SKU_GPU_MEMORY[name])
        return kaito_sizing.resize(plan, sku=sku, catalog=catalog)

    def token(self, plan: Plan, options: Options) -> Token | None:
        """The Secret named in ``modelAccessSecret``, at the key KAITO's controller reads. Its
        reference has no optional form, so a model of unknown gating needs the Secret too."""
        return tokens.resolve(plan, options, key=TOKEN_KEY, required=True)

    def render(self, plan: Plan, options: Options) -> Rendered:
        where = nodes(plan, self._catalog or instances.load())
        many = plan.replicas > 1 or scaling.wants_scaler(plan)
        token = self.token(plan, options)
        root = (
            inference_set(plan, where, token=token) if many else workspace(plan, where, token=token)
        )
        manifests: list[Manifest] = [config_map(plan), root]
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += _entry(plan, options, many=many)
        manifests += monitor(plan, options, many=many)
        said: list[claims.Said | Decision | str] = [
            *_node_decisions(plan, where, many=many),
            _count_decision(plan, many=many),
            _model_decision(plan, many=many),
            _parallelism_decision(plan),
            _replicas_decision(plan, many=many),
        ]
        if many and scaling.wants_scaler(plan):
            said.append(_scaling_decision(plan))
        if where.instance_type is None:
            said.append(_existing_nodes_warning(plan, many=many))
        said += _warnings(plan, many=many)
        return Rendered.of(NAME, manifests, said, token=token)


def node_count_limit(plan: Plan) -> int:
    """GPU nodes across all replicas of an InferenceSet: the most replicas the scaler may
    reach, each on its nodes."""
    return plan.autoscaling.max_replicas * plan.nodes_per_replica


def _root_at(plan: Plan, *, many: bool, path: tuple[str | int, ...]) -> At:
    return At("InferenceSet" if many else "Workspace", plan.name, path)


def _count_decision(plan: Plan, *, many: bool) -> claims.Said:
    per_replica = (
        f"{plan.gpu_count} GPUs per replica at {pods.gpus_per_pod(plan)} per node make "
        f"{plan.nodes_per_replica} node(s) per replica"
    )
    if many:
        limit = Claim(
            node_count_limit(plan),
            _root_at(plan, many=True, path=("spec", "nodeCountLimit")),
            "nodeCountLimit {}",
        )
        most = Claim(
            plan.autoscaling.max_replicas,
            _root_at(plan, many=True, path=_scaler_path("max-replicas")),
            "at most {} replicas",
        )
        decision = Decision(
            topic="node count",
            choice=f"{limit} (GPU nodes across all replicas)",
            reason=f"{per_replica}; {most}. The "
            "InferenceSet template has no count: KAITO's estimator sizes each replica",
            alternatives=(Alternative("no limit", "a runaway scaler could rent any number"),),
        )
        # Without a scaler the replica bound is the plan's own (no annotation holds it).
        return claims.said(decision, limit, *([most] if scaling.wants_scaler(plan) else []))
    count = Claim(
        plan.nodes_per_replica,
        _root_at(plan, many=False, path=("resource", "count")),
        "resource.count {}",
    )
    decision = Decision(
        topic="node count",
        choice=str(count),
        reason=f"count is GPU NODES for one replica, not replicas: {per_replica}. v1beta1 "
        "deprecates count: KAITO's estimator starts from it and records the nodes it settles "
        "on in status.targetNodeCount",
        alternatives=(
            Alternative("count = replicas", "replicas are separate Workspaces; count sizes one"),
        ),
    )
    return claims.said(decision, count)


def _scaler_path(key: str) -> tuple[str, ...]:
    return ("metadata", "annotations", f"{SCALER}{key}")


# --- objects --------------------------------------------------------------------------------


def config_name(plan: Plan) -> str:
    return f"{plan.name}-inference-config"


def vllm_settings(plan: Plan) -> dict[str, int | float | str]:
    """The plan's vLLM engine flags as ``inference_config.yaml``'s ``vllm`` map.

    KAITO appends them after its own flags, so they win: tensor/pipeline parallel as planned
    and one data-parallel rank, where KAITO would otherwise guess a layout from the SKU.
    On/off flags are left out: KAITO passes each entry as ``--key value``.
    """
    flags = engine.args(plan)
    out: dict[str, int | float | str] = {}
    for i, flag in enumerate(flags):
        value = flags[i + 1] if i + 1 < len(flags) else "--"
        key = flag.removeprefix("--")
        if flag.startswith("--") and not value.startswith("--") and key not in _NOT_IN_CONFIG:
            out[key] = _typed(value)
    out["data-parallel-size"] = 1
    return out


def _typed(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def config_map(plan: Plan) -> Manifest:
    text = yaml.safe_dump({"vllm": vllm_settings(plan)}, sort_keys=False)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": labels.metadata(plan, config_name(plan), runtime=NAME, component="config"),
        "data": {CONFIG_KEY: text},
    }


def preset_name(plan: Plan) -> str:
    return PRESETS.get(plan.model_id.lower(), plan.model_id)


def inference(plan: Plan, *, token: Token | None) -> dict[str, Any]:
    preset: dict[str, Any] = {"name": preset_name(plan)}
    if token:
        # The Secret's name only: KAITO reads its key HF_TOKEN (``token.key``).
        preset["presetOptions"] = {"modelAccessSecret": token.secret}
    return {"preset": preset, "config": config_name(plan)}


def workspace(plan: Plan, where: Nodes, *, token: Token | None) -> Manifest:
    resource: dict[str, Any] = {}
    if where.instance_type:
        resource["instanceType"] = where.instance_type
    resource["count"] = plan.nodes_per_replica
    resource["labelSelector"] = {"matchLabels": dict(where.selector)}
    return {
        "apiVersion": API_VERSION,
        "kind": "Workspace",
        "metadata": _root_metadata(plan, "Workspace"),
        "resource": resource,
        "inference": inference(plan, token=token),
    }


def inference_set(plan: Plan, where: Nodes, *, token: Token | None) -> Manifest:
    template: dict[str, Any] = {"inference": inference(plan, token=token)}
    if where.instance_type:
        template["resource"] = {"instanceType": where.instance_type}
    meta = _root_metadata(plan, "InferenceSet")
    if scaling.wants_scaler(plan):
        meta["annotations"].update(scaler_annotations(plan))
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceSet",
        "metadata": meta,
        "spec": {
            "replicas": plan.replicas,
            "nodeCountLimit": node_count_limit(plan),
            "labelSelector": {"matchLabels": dict(where.selector)},
            "template": template,
        },
    }


def scaler_annotations(plan: Plan) -> dict[str, str]:
    """The autoscaling intent in the KEDA KAITO scaler's words (it makes the ScaledObject)."""
    s = plan.autoscaling
    return {
        f"{SCALER}auto-provision": "true",
        f"{SCALER}min-replicas": str(s.min_replicas),
        f"{SCALER}max-replicas": str(s.max_replicas),
        f"{SCALER}metricName": s.signal,
        f"{SCALER}threshold": str(math.ceil(s.target)),  # the scaler takes whole numbers
    }


def _root_metadata(plan: Plan, kind: str) -> dict[str, Any]:
    return labels.metadata(
        plan,
        plan.name,
        runtime=NAME,
        component=kind.lower(),
        annotations=labels.root_annotations(plan),
    )


def _pod_selector(plan: Plan, *, many: bool) -> dict[str, str]:
    if many:
        return {INFERENCESET_LABEL: plan.name, POD_INDEX: "0"}
    return {WORKSPACE_LABEL: plan.name, POD_INDEX: "0"}


def _entry(plan: Plan, options: Options, *, many: bool) -> list[Manifest]:
    """The route to KAITO's Service; an InferenceSet has one per replica, so one of ours
    spans them (pod 0 of each replica serves the API)."""
    if options.exposure == "none":
        return []
    out: list[Manifest] = []
    if many:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": labels.metadata(plan, plan.name, runtime=NAME, component="server"),
                "spec": {
                    "type": "ClusterIP",
                    "selector": _pod_selector(plan, many=True),
                    "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": SERVER_PORT}],
                },
            }
        )
    out += objects.route(plan, options, runtime=NAME, service_name=plan.name, port=SERVICE_PORT)
    return out


def monitor(plan: Plan, options: Options, *, many: bool) -> list[Manifest]:
    """vLLM's ``/metrics`` on the pods that serve (pod 0 of each replica), found by the
    labels KAITO gives them."""
    if options.monitoring == "none":
        return []
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": labels.metadata(plan, plan.name, runtime=NAME, component="monitoring"),
            "spec": {
                "selector": {"matchLabels": _pod_selector(plan, many=many)},
                "podMetricsEndpoints": [
                    {"port": SERVER_PORT, "path": "/metrics", "interval": "15s"}
                ],
            },
        }
    ]


# --- explanations ---------------------------------------------------------------------------


def _template_path(*, many: bool, path: tuple[str, ...]) -> tuple[str, ...]:
    """Where the Workspace's fields sit in an InferenceSet: under ``spec.template``."""
    return ("spec", "template", *path) if many else path


def _node_decisions(plan: Plan, where: Nodes, *, many: bool) -> list[claims.Said | Decision]:
    """The node decisions, the instance type claimed where the root object holds it."""
    out: list[claims.Said | Decision] = []
    for decision in where.decisions:
        if decision.topic == "instance type" and where.instance_type:
            path = _template_path(many=many, path=("resource", "instanceType"))
            sku = Claim(where.instance_type, _root_at(plan, many=many, path=path))
            out.append(claims.said(decision, sku))
        else:
            out.append(decision)
    return out


def _model_decision(plan: Plan, *, many: bool) -> claims.Said:
    name = preset_name(plan)
    if name != plan.model_id:
        reason = "a KAITO preset: KAITO knows its size, context limit and tested settings"
        other = Alternative(plan.model_id, "works too, without the preset's tested defaults")
    else:
        reason = "not a KAITO preset; v0.12 serves any vLLM-supported Hugging Face model by id"
        other = Alternative("a preset name", "KAITO has no preset for this model")
    path = _template_path(many=many, path=("inference", "preset", "name"))
    preset = Claim(name, _root_at(plan, many=many, path=path))
    decision = Decision(topic="model", choice=str(preset), reason=reason, alternatives=(other,))
    return claims.said(decision, preset)


def _parallelism_decision(plan: Plan) -> claims.Said:
    settings = vllm_settings(plan)
    config = At("ConfigMap", config_name(plan), ("data", CONFIG_KEY, Parsed(), "vllm"))

    def setting(key: str, words: str) -> Claim:
        return Claim(settings[key], dataclasses.replace(config, path=(*config.path, key)), words)

    tp = setting("tensor-parallel-size", "TP{}")
    ranks = setting("data-parallel-size", "{} data-parallel rank(s)")
    stated = [tp, ranks]
    pp = f"PP{plan.pipeline_parallel}"
    if "pipeline-parallel-size" in settings:  # written only when > 1
        stated.append(setting("pipeline-parallel-size", "PP{}"))
        pp = str(stated[-1])
    decision = Decision(
        topic="parallelism",
        choice=f"{tp}×{pp}, {ranks}",
        reason="written into inference_config.yaml, which KAITO applies after its own flags; "
        "left alone, KAITO picks data parallelism for models under half a GPU and tensor "
        "parallelism over all of a node's GPUs otherwise",
    )
    return claims.said(decision, *stated)


def _replicas_decision(plan: Plan, *, many: bool) -> claims.Said | Decision:
    if many:
        start = Claim(
            plan.replicas,
            _root_at(plan, many=True, path=("spec", "replicas")),
            "starting at {} replica(s)",
        )
        decision = Decision(
            topic="replicas",
            choice=f"InferenceSet {start}, one Workspace each",
            reason="a Workspace is one replica; an InferenceSet keeps N of them from one "
            "template and exposes the scale subresource autoscalers drive",
            alternatives=(Alternative("one Workspace", "serves a single replica only"),),
        )
        return claims.said(decision, start)
    return Decision(
        topic="replicas",
        choice="one Workspace",
        reason="one replica and no autoscaling: the InferenceSet layer adds nothing",
        alternatives=(Alternative("InferenceSet", "only needed for several replicas"),),
    )


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling

    def annotation(key: str, value: int | str, words: str = "{}") -> Claim:
        return Claim(value, _root_at(plan, many=True, path=_scaler_path(key)), words)

    stated = (
        annotation("metricName", s.signal),
        annotation("threshold", math.ceil(s.target), "threshold {} per replica"),
        annotation("min-replicas", s.min_replicas),
        annotation("max-replicas", s.max_replicas, "{} replicas"),
    )
    signal, threshold, low, high = stated
    decision = Decision(
        topic="autoscaling",
        choice=f"KEDA KAITO scaler on {signal} ({threshold}), {low}–{high}",
        reason=(
            "KAITO's own scaler reads vLLM's metrics from the pods, no Prometheus needed; "
            f"its scale-down window is fixed (300 s), so the plan's {s.cooldown_s} s cool-down "
            "is approximate"
        ),
        alternatives=(
            Alternative(
                "a KEDA ScaledObject on Prometheus",
                "needs a Prometheus that scrapes every KAITO pod",
            ),
        ),
    )
    return claims.said(decision, *stated)


def _existing_nodes_warning(plan: Plan, *, many: bool) -> claims.Said:
    """What existing nodes KAITO needs: enough for the replicas it starts with and, when it
    scales, for as many as the node-count limit allows."""
    labelled = ", ".join(f"{k}={v}" for k, v in plan.node_selector.items())
    start = plan.nodes_per_replica * plan.replicas
    stated: list[Claim] = []
    if many:
        replicas = Claim(
            plan.replicas, _root_at(plan, many=True, path=("spec", "replicas")), "{} replica(s)"
        )
        stated.append(replicas)
        need = f"{start} for its first {replicas}"
        if scaling.wants_scaler(plan):
            limit = Claim(
                node_count_limit(plan),
                _root_at(plan, many=True, path=("spec", "nodeCountLimit")),
                "up to {} (its nodeCountLimit)",
            )
            stated.append(limit)
            need += f", {limit} to scale"
    else:
        count = Claim(start, _root_at(plan, many=False, path=("resource", "count")))
        stated.append(count)
        need = str(count)
    text = (
        "KAITO must run with node auto-provisioning off (featureGates."
        f"disableNodeAutoProvisioning=true), and needs ready nodes labelled {labelled} ({need}) "
        "that also carry GPU feature discovery's nvidia.com/gpu.product, .count and .memory "
        "labels (it reads the GPU shape from them)."
    )
    return claims.said(text, *stated)


def _warnings(plan: Plan, *, many: bool) -> list[str]:
    out = []
    if many and scaling.wants_scaler(plan):
        out.append("Autoscaling needs KEDA and the keda-kaito-scaler installed in the cluster.")
    if preset_name(plan) == plan.model_id and plan.probes.cold_start_s > KAITO_STARTUP_S:
        out.append(
            f"KAITO gives a model without a preset {KAITO_STARTUP_S // 60} min to start; this "
            f"one may need {math.ceil(plan.probes.cold_start_s / 60)} min on a cold node."
        )
    if not plan.prefix_caching:
        out.append("KAITO's config takes no on/off flags: vLLM's prefix caching stays on.")
    if not kaito_sizing.in_catalog(plan.model_id) and plan.model_id.lower() not in PRESETS:
        out.append(
            f"{plan.model_id} is not in KAITO's model catalog ({kaito_sizing.CATALOG_VERSION}): "
            "its controller reads the model's files from the Hugging Face Hub to size and "
            "configure it, so it must reach huggingface.co (in an air-gapped cluster the "
            "Workspace never starts)."
        )
    extra = [t for t in plan.tolerations if t.get("key") not in _KAITO_TOLERATES]
    if extra:
        out.append(
            f"KAITO's pods tolerate only the taints {', '.join(_KAITO_TOLERATES.values())}; "
            f"nodes tainted {', '.join(str(t.get('key')) for t in extra)} will not take them."
        )
    return out
