"""KubeRay: one RayService running Ray Serve LLM (vLLM inside), its serve config generated.

``serveConfigV2`` is a Python structure dumped with ``yaml.safe_dump``, never templated
text. Every value that KubeRay, Ray and Ray Serve each need is derived once:

- the Ray version is read back from the image tag, so ``rayVersion`` cannot drift from it;
- a worker pod holds one node's share of a replica's GPUs; ``num-gpus`` repeats the pod's
  GPU limit and the replica asks Ray for exactly TP×PP one-GPU bundles, which is what
  ``nodes_per_replica`` such pods provide (a mismatch would leave the replica pending);
- the Hugging Face token reaches the pods from its Secret (never ``runtime_env``); Ray
  Serve LLM passes ``HF_TOKEN`` from the node's environment on to its engine workers;
- the autoscaling intent becomes Ray Serve's ``autoscaling_config`` plus KubeRay's in-tree
  autoscaler on the worker group, in pods (replicas × nodes per replica).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from kubefoundry.core import identity
from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Decision, Plan
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
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim, Parsed

NAME = "kuberay"
COMPONENT = "ray"  # head and worker pods: the monitor and the disruption budget cover both
RAY_VERSION = "2.60.0"
RAY_IMAGE = "rayproject/ray-llm"
RAY_IMAGE_FLAVOUR = "py311-cu128"
# The vLLM that image runs: ray 2.60.0's `llm` extra pins vllm[audio]==0.29.0 (the wheels'
# METADATA on PyPI); the plan is made for it (choosing.with_bundled_vllm).
VLLM_VERSION = "0.29.0"
IMPORT_PATH = "ray.serve.llm:build_openai_app"  # ships in the ray-llm image
SERVE_PORT = 8000
METRICS_PORT = 8080  # KubeRay starts every Ray node with --metrics-export-port=8080
# The head holds no GPUs. It offers Ray two CPUs, for the two 1-CPU replicas of Ray Serve
# LLM's OpenAI ingress at rest, so the ingress never pins a GPU worker and the worker group
# can drop to zero; the other two CPUs run GCS, the dashboard and the Serve controller.
INGRESS_CPUS = 2
HEAD_RESOURCES = {"cpu": str(INGRESS_CPUS + 2), "memory": "8Gi"}
WORKER_GROUP = "gpu"
ENGINE_START_TIMEOUT = "RAYLLM_ENGINE_START_TIMEOUT_S"  # Ray Serve LLM's own limit (1 h)

# plan.gpu -> the accelerator type Ray detects on the node (NVML name, first word after
# "NVIDIA"/"Tesla"). GPUs missing here (A10: Ray Serve LLM renames it A10G; GB200: unknown
# to Ray Serve LLM) get no accelerator_type, which would otherwise never be satisfied.
RAY_ACCELERATOR = {
    "T4": "T4",
    "A10G": "A10G",
    "L4": "L4",
    "L40S": "L40S",
    "A100-40GB-SXM": "A100",
    "A100-80GB-SXM": "A100",
    "A100-80GB-PCIe": "A100",
    "H100-80GB-SXM": "H100",
    "H100-80GB-PCIe": "H100",
    "H100-NVL-94GB": "H100",
    "H200-141GB-SXM": "H200",
    "B200": "B200",
}
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_NOT_ENGINE_KWARGS = {"served_model_name", "port"}  # Ray Serve LLM sets these itself


RAY_SERVICE = Kind("ray.io", "v1", "RayService", "rayservices")
CLUSTER_SIDE = ClusterSide(
    roots=(
        Root(
            RAY_SERVICE,
            readiness.State("serviceStatus", ("Running",), readiness.Conditions(("Ready",))),
        ),
    ),
    renders=(RAY_SERVICE, *objects.KINDS, *tokens.KINDS),
    operators=(
        Operator(
            "kuberay",
            RAY_SERVICE.crd,
            # ray-operator/main.go's LeaderElectionID (leader election is on by default);
            # the kuberay-operator Helm chart's pod labels.
            Controller(
                "the KubeRay operator",
                install="install the KubeRay operator (helm install kuberay-operator "
                "kuberay/kuberay-operator) or start it",
                leases=("ray-operator-leader",),
                pods=("app.kubernetes.io/name=kuberay-operator",),
            ),
        ),
    ),
)


class KubeRayRuntime:
    name = NAME
    summary = "RayService with Ray Serve LLM (vLLM engine); Ray's own autoscaler"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.DISAGGREGATED: "Ray Serve LLM's prefill/decode app is not rendered; use dynamo "
        "or llmd",
        Feature.KV_ROUTING: "Ray Serve routes by queue length; use llmd or dynamo",
        Feature.NON_NVIDIA: "renders the CUDA ray-llm image; use kserve for Intel Gaudi or Xeon",
    }

    def bundled_vllm(self, options: Options) -> str | None:
        """The vLLM in our ray-llm image; an image of the user's brings one we do not know."""
        return None if options.image else VLLM_VERSION

    def render(self, plan: Plan, options: Options) -> Rendered:
        check_parallelism(plan)
        token = tokens.resolve(plan, options)
        manifests: list[Manifest] = [ray_service(plan, options, token=token)]
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += objects.route(
            plan, options, runtime=NAME, service_name=serve_service_name(plan), port=SERVE_PORT
        )
        manifests += _monitor(plan, options)
        manifests += objects.disruption_budget(plan, options, runtime=NAME, component=COMPONENT)
        said = [*_decisions(plan, options), *_warnings(plan, options)]
        return Rendered.of(NAME, manifests, said, token=token)


def check_parallelism(plan: Plan) -> None:
    """The pods must hold exactly the GPUs the engine asks for, or the replica never starts."""
    share, rest = divmod(plan.gpu_count, plan.nodes_per_replica)
    if plan.tensor_parallel * plan.pipeline_parallel != plan.gpu_count or rest:
        raise InvalidInputError(
            f"TP {plan.tensor_parallel} × PP {plan.pipeline_parallel} must use the replica's "
            f"{plan.gpu_count} GPUs, split evenly over {plan.nodes_per_replica} nodes.",
            hint="Re-plan without pinning `gpu_count`, or pin a count TP × PP can use.",
        )
    if share > plan.gpus_per_node:
        raise InvalidInputError(
            f"A worker pod would need {share} GPUs; a {plan.gpu} node has {plan.gpus_per_node}.",
            hint="Re-plan so the replica spans more nodes.",
        )


def image(options: Options) -> str:
    return options.image or f"{RAY_IMAGE}:{RAY_VERSION}-{RAY_IMAGE_FLAVOUR}"


def ray_version(image_ref: str) -> str:
    """The Ray version an image carries, read from its tag (``2.60.0-py311-cu128``)."""
    version = engine.image_tag(image_ref).split("-", 1)[0]
    if not _VERSION.fullmatch(version):
        raise InvalidInputError(
            f"Cannot read a Ray version from the image {image_ref!r}; KubeRay needs it as "
            "rayVersion.",
            hint=f"Use a rayproject/ray-llm tag such as {RAY_VERSION}-{RAY_IMAGE_FLAVOUR}.",
        )
    return version


def serve_service_name(plan: Plan) -> str:
    """The Service KubeRay creates in front of the Serve proxies."""
    return f"{plan.name}-serve-svc"


# --- serveConfigV2 ------------------------------------------------------------------------


def serve_config(plan: Plan) -> dict[str, Any]:
    """The Ray Serve application: Ray Serve LLM's OpenAI app with one model."""
    app = {
        "name": "llm",
        "route_prefix": "/",
        "import_path": IMPORT_PATH,
        "args": {"llm_configs": [llm_config(plan)]},
    }
    return {"applications": [app]}


def llm_config(plan: Plan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_loading_config": {
            "model_id": engine.served_name(plan),
            "model_source": plan.model_id,
        },
        "engine_kwargs": engine_kwargs(plan),
        "placement_group_config": placement_group_config(plan),
        "deployment_config": deployment_config(plan),
        "log_engine_metrics": True,  # vLLM's metrics on each node's Ray metrics port
    }
    if plan.gpu in RAY_ACCELERATOR:
        out["accelerator_type"] = RAY_ACCELERATOR[plan.gpu]
    return out


def engine_kwargs(plan: Plan) -> dict[str, Any]:
    """The very flags ``vllm serve`` gets in every other runtime, as vLLM engine arguments."""
    args = engine.args(plan)
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        key = args[i].removeprefix("--").replace("-", "_")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            value: Any = _scalar(args[i + 1])
            i += 2
        else:
            value, key = not key.startswith("no_"), key.removeprefix("no_")
            i += 1
        if key not in _NOT_ENGINE_KWARGS:
            out[key] = value
    out.setdefault("pipeline_parallel_size", plan.pipeline_parallel)
    return out


def _scalar(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def placement_group_config(plan: Plan) -> dict[str, Any]:
    """One one-GPU bundle per engine worker (TP × PP); a single-node replica stays on one pod,
    a multi-node one packs whole pods (each pod holds exactly one node's share)."""
    bundles = [{"GPU": 1} for _ in range(plan.tensor_parallel * plan.pipeline_parallel)]
    strategy = "STRICT_PACK" if plan.nodes_per_replica == 1 else "PACK"
    return {"bundles": bundles, "strategy": strategy}


def target_ongoing_requests(plan: Plan) -> int:
    """Requests one replica is planned to run at once: the plan's autoscaling target (requests
    running per replica within the latency targets), within what the engine admits."""
    return max(1, min(math.ceil(plan.autoscaling.target), plan.memory.max_num_seqs))


def deployment_config(plan: Plan) -> dict[str, Any]:
    s = plan.autoscaling
    target = target_ongoing_requests(plan)
    out: dict[str, Any] = {"max_ongoing_requests": 2 * target}
    if not scaling.wants_scaler(plan):
        out["num_replicas"] = plan.replicas
        return out
    out["autoscaling_config"] = {
        "min_replicas": s.min_replicas,
        "initial_replicas": initial_replicas(plan),
        "max_replicas": s.max_replicas,
        "target_ongoing_requests": target,
        "downscale_delay_s": s.cooldown_s,
    }
    return out


def initial_replicas(plan: Plan) -> int:
    s = plan.autoscaling
    return max(s.min_replicas, min(plan.replicas, s.max_replicas))


# --- the RayService -----------------------------------------------------------------------


def ray_service(plan: Plan, options: Options, *, token: Token | None) -> Manifest:
    ref = image(options)
    cluster: dict[str, Any] = {
        "rayVersion": ray_version(ref),
        "enableInTreeAutoscaling": scaling.wants_scaler(plan),
        "headGroupSpec": head_group(plan, image_ref=ref, token=token),
        "workerGroupSpecs": [worker_group(plan, options, image_ref=ref, token=token)],
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": labels.metadata(
            plan,
            plan.name,
            runtime=NAME,
            component="service",
            annotations=labels.root_annotations(plan),
        ),
        "spec": {
            "serveConfigV2": yaml.safe_dump(serve_config(plan), sort_keys=False),
            # A cluster-level change starts a second cluster and moves traffic when it serves:
            # zero downtime, but it needs the GPUs of a second copy while it runs.
            "upgradeStrategy": {"type": "NewCluster"},
            "rayClusterConfig": cluster,
        },
    }


def head_group(plan: Plan, *, image_ref: str, token: Token | None) -> dict[str, Any]:
    """The head runs Ray's control processes and the OpenAI ingress; never the engine."""
    container = {
        "name": "ray-head",
        "image": image_ref,
        "env": engine.env(plan, token_env=tokens.env(token), cache=False),
        "ports": [
            _port("gcs-server", 6379),
            _port("dashboard", 8265),
            _port("client", 10001),
            _port("serve", SERVE_PORT),
            _port("metrics", METRICS_PORT),
        ],
        "resources": {"requests": dict(HEAD_RESOURCES), "limits": dict(HEAD_RESOURCES)},
    }
    return {
        "rayStartParams": {
            "num-cpus": str(INGRESS_CPUS),
            "num-gpus": "0",
            "dashboard-host": "0.0.0.0",
        },
        "template": {
            # No model replica runs on the head (it has no GPU): its pod is not counted as one.
            "metadata": {
                "labels": labels.labels(plan, runtime=NAME, component=COMPONENT)
                | {identity.HELPER: "true"}
            },
            "spec": {"containers": [container]},
        },
    }


def worker_group(
    plan: Plan, options: Options, *, image_ref: str, token: Token | None
) -> dict[str, Any]:
    """One pod per node of a replica, holding that node's share of the replica's GPUs."""
    gpus = pods.gpus_per_pod(plan)
    resources = pods.resources(plan, gpus=gpus)
    container = {
        "name": "ray-worker",
        "image": image_ref,
        "env": _worker_env(plan, options, token=token),
        "ports": [_port("serve", SERVE_PORT), _port("metrics", METRICS_PORT)],
        "resources": resources,
        "volumeMounts": pods.volume_mounts(options),
    }
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": pods.volumes(plan, options),
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **pods.placement(plan),
    }
    low, initial, high = _pod_counts(plan)
    return {
        "groupName": WORKER_GROUP,
        "replicas": initial,
        "minReplicas": low,
        "maxReplicas": high,
        "numOfHosts": 1,
        "rayStartParams": {
            "num-gpus": resources["limits"][plan.gpu_resource],
            "num-cpus": resources["requests"]["cpu"],
        },
        "template": {
            "metadata": {"labels": labels.labels(plan, runtime=NAME, component=COMPONENT)},
            "spec": spec,
        },
    }


def _pod_counts(plan: Plan) -> tuple[int, int, int]:
    """Worker pods (min, initial, max): Serve replicas × nodes per replica."""
    n = plan.nodes_per_replica
    if not scaling.wants_scaler(plan):
        return plan.replicas * n, plan.replicas * n, plan.replicas * n
    s = plan.autoscaling
    return s.min_replicas * n, initial_replicas(plan) * n, s.max_replicas * n


def _worker_env(plan: Plan, options: Options, *, token: Token | None) -> list[dict[str, Any]]:
    """Token from its Secret at pod level (Ray passes HF_TOKEN on to the engine workers),
    and Ray Serve LLM's engine start limit sized like every other runtime's startup probe."""
    out = engine.env(plan, token_env=tokens.env(token), cache=options.cache.enabled)
    out.append({"name": ENGINE_START_TIMEOUT, "value": str(plan.probes.startup_budget_s)})
    return out


def _port(name: str, number: int) -> dict[str, Any]:
    return {"name": name, "containerPort": number, "protocol": "TCP"}


# --- around the RayService ----------------------------------------------------------------


def _monitor(plan: Plan, options: Options) -> list[Manifest]:
    """Every Ray node exports metrics (vLLM's included) on its own port; no Service covers
    the workers, so a PodMonitor is the only monitor that reaches them all."""
    if options.monitoring == "none":
        return []
    pod_options = dataclasses.replace(options, monitoring="podmonitor")
    return objects.monitor(plan, pod_options, runtime=NAME, component=COMPONENT, port="metrics")


def _at(plan: Plan, *path: str | int | Parsed) -> At:
    return At("RayService", plan.name, ("spec", *path))


def _workers_at(plan: Plan, *path: str | int) -> At:
    return _at(plan, "rayClusterConfig", "workerGroupSpecs", 0, *path)


def _llm_at(plan: Plan, *path: str | int) -> At:
    return _at(plan, "serveConfigV2", Parsed(), "applications", 0, "args", "llm_configs", 0, *path)


def _decisions(plan: Plan, options: Options) -> list[claims.Said | Decision]:
    group = placement_group_config(plan)
    per_pod = Claim(
        pods.gpus_per_pod(plan),
        _workers_at(plan, "template", "spec", "containers", 0, "resources", "limits",
                    plan.gpu_resource),
        f"{{}}×{plan.gpu} per Ray worker pod",
    )  # fmt: skip
    ray_gpus = Claim(pods.gpus_per_pod(plan), _workers_at(plan, "rayStartParams", "num-gpus"))
    strategy = Claim(group["strategy"], _llm_at(plan, "placement_group_config", "strategy"))
    placement = Decision(
        topic="gpu placement",
        choice=(
            f"{per_pod}, {plan.nodes_per_replica} pod(s) per replica; "
            f"{len(group['bundles'])} one-GPU bundles, {strategy}"
        ),
        reason="the engine asks Ray for exactly the GPUs the worker pods of one replica "
        f"hold (Ray's num-gpus {ray_gpus}), so no replica waits for GPUs that no pod offers",
    )
    out: list[claims.Said | Decision] = [claims.said(placement, per_pod, ray_gpus, strategy)]
    if scaling.wants_scaler(plan):
        out.append(_scaling_decision(plan))
    if options.monitoring == "servicemonitor":
        out.append(
            Decision(
                topic="monitoring",
                choice="PodMonitor on the Ray metrics port",
                reason="no Service selects the Ray worker pods, so a ServiceMonitor cannot "
                "reach them",
            )
        )
    return out


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling

    def serve(key: str, value: int, words: str = "{}") -> Claim:
        return Claim(value, _llm_at(plan, "deployment_config", "autoscaling_config", key), words)

    low, _, high = _pod_counts(plan)
    stated = (
        serve("min_replicas", s.min_replicas),
        serve("max_replicas", s.max_replicas, "{} replicas"),
        serve("target_ongoing_requests", target_ongoing_requests(plan), "{} ongoing requests"),
        serve("downscale_delay_s", s.cooldown_s, "scale-down after {}s"),
        Claim(low, _workers_at(plan, "minReplicas")),
        Claim(high, _workers_at(plan, "maxReplicas"), "{} worker pods"),
    )
    low_r, high_r, target, delay, low_p, high_p = stated
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"Ray Serve autoscaling {low_r}–{high_r} at {target} each, {delay}; KubeRay in-tree "
            f"autoscaler keeps {low_p}–{high_p}"
        ),
        reason="Ray Serve sees every request it routes; the Ray autoscaler follows the "
        "replicas it places",
    )
    return claims.said(decision, *stated)


def _warnings(plan: Plan, options: Options) -> list[claims.Said | str]:
    out: list[claims.Said | str] = []
    if options.image or plan.engine_version != VLLM_VERSION:
        bundled = "" if options.image else f" (vLLM {VLLM_VERSION})"
        ref = Claim(
            image(options),
            _workers_at(plan, "template", "spec", "containers", 0, "image"),
            "the vLLM bundled in {}" + bundled,
        )
        out.append(
            claims.said(
                f"KubeRay serves with {ref}, not vLLM {plan.engine_version} that the memory "
                "plan assumed; check the KV-cache size the engine logs at start.",
                ref,
            )
        )
    if plan.gpu not in RAY_ACCELERATOR:
        out.append(
            f"Ray Serve LLM has no accelerator type for {plan.gpu}; replicas are placed by GPU "
            "count and the node selector only."
        )
    return out
