"""Hugging Face Text Generation Inference: the seed's ``ML_INFERENCE_LOAD`` workload.

A Deployment whose one ``inference`` container runs the TGI launcher, configured entirely by
environment variables, on GPU nodes (``runtimeClassName: nvidia``); a Service (80 → 8080);
an HTTPRoute; the token as an ExternalSecret; a ServiceMonitor; a KEDA ScaledObject on TGI's
own queue metric; a PodDisruptionBudget. TGI shards a model over the GPUs of one pod by tensor
parallelism only (``NUM_SHARD``), so multi-node and pipeline-parallel plans go elsewhere.

``settings(plan)`` is the one place a plan becomes TGI launcher settings; the renderer here
and the seed's Helm chart (``runtimes/export/tgichart.py``) both read it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Decision, Plan
from kubefoundry.runtimes import base
from kubefoundry.runtimes.base import Feature, Manifest, Options, Rendered, Token
from kubefoundry.runtimes.cluster_side import ClusterSide
from kubefoundry.runtimes.common import (
    claims,
    engine,
    kinds,
    labels,
    objects,
    pods,
    scaling,
    tokens,
)
from kubefoundry.runtimes.common.claims import At, Claim, Pick

NAME = "tgi"
COMPONENT = "server"
CONTAINER = "inference"
IMAGE = "ghcr.io/huggingface/text-generation-inference"
VERSION = "3.3.7"  # last release (2025-12); upstream is in maintenance mode since
PORT = 8080
RUNTIME_CLASS = "nvidia"  # the NVIDIA GPU Operator's container runtime
QUEUE_METRIC = "tgi_queue_size"  # requests waiting for a batch slot, per TGI router
HUB_SUBDIR = "hub"  # under the cache volume: the layout vLLM's HF_HOME=/models gives
HUB_CACHE = f"{engine.CACHE_PATH}/{HUB_SUBDIR}"  # so TGI and vLLM share one model cache
DRAIN_MARGIN_S = 10  # TGI stops draining this long before the kubelet kills the pod

# The options the seed's chart implies: traffic through a Gateway API HTTPRoute.
DEFAULT_OPTIONS = Options(exposure="httproute")

_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}  # the only two TGI's --dtype accepts
_KV_CACHE_DTYPES = {"fp8": "fp8_e4m3fn"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """TGI launcher settings for one plan (each from one field of the plan)."""

    model_id: str
    revision: str | None
    max_input_tokens: int
    max_total_tokens: int
    num_shard: int
    dtype: str | None  # None: the checkpoint's own (always None with quantization)
    quantize: str | None
    kv_cache_dtype: str | None
    cuda_memory_fraction: float
    prefix_caching: bool
    graceful_termination_s: int


CLUSTER_SIDE = ClusterSide(
    roots=(kinds.DEPLOYMENT_ROOT,),
    renders=(kinds.DEPLOYMENT, *objects.KINDS, *tokens.KINDS, *scaling.KINDS),
)


class TgiRuntime:
    name = NAME
    summary = "Hugging Face TGI as a Deployment + Service + HTTPRoute (the ML_INFERENCE_LOAD chart)"
    requires: tuple[str, ...] = CLUSTER_SIDE.requires
    cluster_side = CLUSTER_SIDE
    limits: Mapping[Feature, str] = {
        Feature.MULTI_NODE: "TGI shards a model over the GPUs of one pod; use lws for multi-node",
        Feature.PIPELINE_PARALLEL: "TGI shards by tensor parallelism only (NUM_SHARD); use vllm",
        Feature.DISAGGREGATED: "one pool of identical TGI pods; use dynamo or llmd",
        Feature.KV_ROUTING: "a Service balances round-robin; use llmd or dynamo",
        Feature.NON_NVIDIA: "renders the CUDA image on the nvidia runtime class; use kserve",
        Feature.SCALE_TO_ZERO: (
            f"KEDA reads TGI's own {QUEUE_METRIC}, which no pod exports at zero replicas, so "
            "nothing would wake the model"
        ),
    }

    def render(self, plan: Plan, options: Options) -> Rendered:
        refused = base.refusal(self, plan, options)
        if refused:
            raise InvalidInputError(
                f"TGI cannot serve this plan: {refused}.",
                hint="Pick the runtime the reason names, or change the plan (GPU type, count).",
            )
        token = tokens.resolve(plan, options)
        workload = deployment(plan, options, token=token)
        manifests: list[Manifest] = [scaling.initial(plan, workload, plan.replicas)]
        manifests.append(objects.service(plan, runtime=NAME, component=COMPONENT, port=PORT))
        if options.cache.enabled:
            manifests.append(objects.model_cache(plan, options, runtime=NAME))
        manifests += tokens.objects(plan, token, runtime=NAME)
        manifests += objects.route(plan, options, runtime=NAME, service_name=plan.name)
        manifests += objects.monitor(plan, options, runtime=NAME, component=COMPONENT)
        manifests += objects.disruption_budget(plan, options, runtime=NAME, component=COMPONENT)
        said = []
        if scaling.wants_scaler(plan):
            manifests.append(scaled_object(plan, options))
            said.append(_scaling_decision(plan))
        said.append(_memory_warning(plan))
        return Rendered.of(NAME, manifests, said, token=token)


def settings(plan: Plan) -> Settings:
    return Settings(
        model_id=plan.model_id,
        revision=None,  # plans do not pin a hub revision yet: TGI takes the default branch
        # TGI needs room for at least one generated token past the longest prompt.
        max_input_tokens=plan.max_model_len - 1,
        max_total_tokens=plan.max_model_len,
        num_shard=plan.tensor_parallel,
        dtype=None if plan.quantization else _DTYPES.get(plan.dtype),
        quantize=quantize(plan),
        kv_cache_dtype=_KV_CACHE_DTYPES.get(plan.kv_cache_dtype),
        cuda_memory_fraction=plan.gpu_memory_utilization,
        prefix_caching=plan.prefix_caching,
        graceful_termination_s=pods.termination_grace_s(plan) - DRAIN_MARGIN_S,
    )


def quantize(plan: Plan) -> str | None:
    """``QUANTIZE`` only when TGI quantizes on load; a quantized checkpoint says its own."""
    if not plan.quantize_at_load or plan.quantization is None:
        return None
    if plan.quantization != "fp8":
        raise InvalidInputError(
            f"This TGI setup quantizes an unquantized checkpoint on load only to fp8, not "
            f"{plan.quantization}.",
            hint="Use `quantization` fp8, or pick a checkpoint already quantized "
            f"as {plan.quantization} (for example an AWQ or GPTQ repository).",
        )
    return "fp8"


def env(s: Settings, *, token_env: list[dict[str, Any]], cache: bool) -> list[dict[str, Any]]:
    """The launcher's environment: ``text-generation-launcher`` reads every flag from it."""
    values: list[tuple[str, str | None]] = [
        ("MODEL_ID", s.model_id),
        ("REVISION", s.revision),
        ("PORT", str(PORT)),
        ("NUM_SHARD", str(s.num_shard)),
        ("MAX_INPUT_TOKENS", str(s.max_input_tokens)),
        ("MAX_TOTAL_TOKENS", str(s.max_total_tokens)),
        ("DTYPE", s.dtype),
        ("QUANTIZE", s.quantize),
        ("KV_CACHE_DTYPE", s.kv_cache_dtype),
        ("CUDA_MEMORY_FRACTION", f"{s.cuda_memory_fraction:g}"),
        # TGI turns prefix caching on by itself where the model allows; only say "off".
        ("PREFIX_CACHING", None if s.prefix_caching else "0"),
        ("GRACEFUL_TERMINATION_TIMEOUT", str(s.graceful_termination_s)),
        ("HUGGINGFACE_HUB_CACHE", HUB_CACHE if cache else None),
        ("USAGE_STATS", "off"),
    ]
    out = [{"name": k, "value": v} for k, v in values if v is not None]
    return [*out, *token_env]


def image(options: Options) -> str:
    return options.image or f"{IMAGE}:{VERSION}"


def node_selector(plan: Plan) -> dict[str, str]:
    """The plan's node selector, as every runtime selects: the GPU label of the pool it was
    planned on. No GPU Operator label of our own: GKE's and EKS's GPU nodes carry none, and
    the GPU request already keeps the pods off nodes without the GPUs."""
    return dict(plan.node_selector)


def container(plan: Plan, options: Options, *, token: Token | None) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": image(options),
        "env": env(settings(plan), token_env=tokens.env(token), cache=options.cache.enabled),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": pods.resources(plan),
        "volumeMounts": pods.volume_mounts(options),
        **pods.probes(plan),
    }


def deployment(plan: Plan, options: Options, *, token: Token | None) -> Manifest:
    spec: dict[str, Any] = {
        "runtimeClassName": RUNTIME_CLASS,
        "containers": [container(plan, options, token=token)],
        "volumes": pods.volumes(plan, options),
        "terminationGracePeriodSeconds": pods.termination_grace_s(plan),
        **pods.placement(plan),
        "nodeSelector": node_selector(plan),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": labels.metadata(
            plan, plan.name, runtime=NAME, component=COMPONENT, annotations=root_annotations(plan)
        ),
        "spec": {
            **scaling.replicas(plan, plan.replicas),
            # A new pod needs the old one's GPUs: replace, never surge, on a full node.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "selector": {"matchLabels": labels.selector(plan, COMPONENT)},
            "template": {
                "metadata": {"labels": labels.labels(plan, runtime=NAME, component=COMPONENT)},
                "spec": spec,
            },
        },
    }


def root_annotations(plan: Plan) -> dict[str, str]:
    """The shared plan summary, saying the engine that actually runs: TGI, not vLLM."""
    return labels.root_annotations(plan, engine=f"{NAME} {VERSION}")


def queue_query(*, service: str, namespace: str | None) -> str:
    """Requests queued in one Service's TGI routers (labels the ServiceMonitor's scrape adds)."""
    where = [f'service="{service}"']
    if namespace:
        where.append(f'namespace="{namespace}"')
    return f"sum({QUEUE_METRIC}{{{','.join(where)}}})"


def scaled_object(plan: Plan, options: Options) -> Manifest:
    """The plan's autoscaling intent on TGI's queue instead of vLLM's waiting requests."""
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": plan.name}
    out = scaling.scaled_object(
        plan, runtime=NAME, target=target, component=COMPONENT, prometheus=options.prometheus
    )
    query = queue_query(service=plan.name, namespace=plan.namespace)
    out["spec"]["triggers"][0]["metadata"]["query"] = query
    return out


def _scaling_decision(plan: Plan) -> claims.Said:
    s = plan.autoscaling
    said = scaling.stated(s, name=plan.name)
    decision = Decision(
        topic="autoscaling",
        choice=(
            f"KEDA ScaledObject on {QUEUE_METRIC} (target {said.target} per replica), "
            f"{said.low}–{said.high}, {said.cooldown}"
        ),
        reason="TGI's queue of requests waiting for a batch slot grows before latency does; "
        f"it stands in for the plan's {s.signal}",
    )
    return claims.said(decision, *said.all)


def _env_claim(plan: Plan, name: str, value: str) -> Claim:
    at = At(
        "Deployment",
        plan.name,
        ("spec", "template", "spec", "containers", Pick("name", CONTAINER), "env",
         Pick("name", name), "value"),
    )  # fmt: skip
    return Claim(value, at, f"{name}={{}}")


def _memory_warning(plan: Plan) -> claims.Said:
    """The launcher settings that size TGI's memory, as the container's env has them."""
    s = settings(plan)
    fraction = _env_claim(plan, "CUDA_MEMORY_FRACTION", f"{s.cuda_memory_fraction:g}")
    total = _env_claim(plan, "MAX_TOTAL_TOKENS", str(s.max_total_tokens))
    text = (
        f"TGI budgets GPU memory itself ({fraction}, {total}); the plan's KV-cache capacity "
        "and speed figures are vLLM's estimates."
    )
    return claims.said(text, fraction, total)
