"""Accelerator profiles for KServe's vLLM runtime, as data: NVIDIA, Intel Xeon, Gaudi, Gaudi3.

A profile says which image runs vLLM, what a pod requests, where it may schedule and which
engine flags the platform needs. The Intel numbers (CPU cores, memory, node selectors,
capabilities, bf16, enforce-eager) are those of Intel's Enterprise Inference KServe chart
(``shared/seeds/003_…``). NVIDIA takes everything from the plan instead.

The profile is ``options.platform`` when given, else the plan's GPU: Habana GPUs map to
``gaudi``/``gaudi3``, NVIDIA GPUs to ``nvidia``. The plan's memory arithmetic is always done for
the plan's GPU, so an Intel profile says so in a warning.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes.base import Manifest, Options, Platform
from kubefoundry.runtimes.common import claims, engine, pods
from kubefoundry.runtimes.common.claims import After, At, Claim, Said

PORT = 8080  # KServe's default model-server port; its Service maps 80 to it
CONTAINER = "kserve-container"  # the container KServe merges the predictor's model into
MODEL_FORMAT = "vLLM"
CPU_HEADROOM_GIB = 16  # Python, tokenizer and activations beside weights and KV on a CPU pod
CPU_KV_FLOOR_GIB = 4  # vLLM's own default KV space on CPU


@dataclasses.dataclass(frozen=True)
class Profile:
    """One platform. ``None`` fields come from the plan (the NVIDIA profile)."""

    name: Platform
    title: str
    image: str | None  # "{version}" is the plan's vLLM version; None: the CUDA image
    accelerator: str | None  # extended resource per pod; "" for none; None: the plan's GPU
    cpu: tuple[int, int] | None  # cores: request, limit
    memory_gib: tuple[int, int] | None  # request, limit (raised to what the weights need)
    node_selector: Mapping[str, str] | None
    tolerations: tuple[Mapping[str, str], ...] | None
    capabilities: tuple[str, ...] = ()
    dtype: str | None = None  # forces --dtype
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    runtime_class: str | None = None
    image_follows_plan: bool = True  # the image tag is the plan's vLLM version

    @property
    def on_cpu(self) -> bool:
        return self.accelerator == ""


_GAUDI_CAPS = ("SYS_PTRACE", "IPC_LOCK", "SYS_NICE")
_GAUDI_TOLERATIONS = ({"key": "habana.ai/gaudi", "operator": "Exists", "effect": "NoSchedule"},)
_GAUDI_ENV = MappingProxyType(
    {"PT_HPU_ENABLE_LAZY_COLLECTIVES": "true", "OMPI_MCA_btl_vader_single_copy_mechanism": "none"}
)
# Intel's Gaudi vLLM build: its vLLM version follows the Gaudi software release, not the plan.
_GAUDI_IMAGE = (
    "vault.habana.ai/gaudi-docker/1.23.0/ubuntu22.04/habanalabs/vllm-installer-2.9.0:latest"
)

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "nvidia": Profile(
            name="nvidia",
            title="NVIDIA GPU, vLLM CUDA image",
            image=None,
            accelerator=None,
            cpu=None,
            memory_gib=None,
            node_selector=None,
            tolerations=None,
        ),
        "xeon": Profile(
            name="xeon",
            title="Intel Xeon CPU (AVX512-VNNI), vLLM CPU image",
            image="vllm/vllm-openai-cpu:v{version}",
            accelerator="",
            cpu=(16, 32),
            memory_gib=(64, 128),
            node_selector=MappingProxyType(
                {"feature.node.kubernetes.io/cpu-cpuid.AVX512VNNI": "true"}
            ),
            tolerations=(),
        ),
        "gaudi": Profile(
            name="gaudi",
            title="Intel Gaudi 2, vLLM Gaudi image",
            image=_GAUDI_IMAGE,
            accelerator="habana.ai/gaudi",
            cpu=(16, 32),
            memory_gib=(128, 256),
            node_selector=MappingProxyType({"node.kubernetes.io/instance-type": "gaudi"}),
            tolerations=_GAUDI_TOLERATIONS,
            capabilities=_GAUDI_CAPS,
            dtype="bfloat16",
            extra_args=("--enforce-eager",),
            env=_GAUDI_ENV,
            runtime_class="habana",
            image_follows_plan=False,
        ),
        "gaudi3": Profile(
            name="gaudi3",
            title="Intel Gaudi 3, vLLM Gaudi image",
            image=_GAUDI_IMAGE,
            accelerator="habana.ai/gaudi",
            cpu=(24, 48),
            memory_gib=(256, 512),
            node_selector=MappingProxyType({"node.kubernetes.io/instance-type": "gaudi3"}),
            tolerations=_GAUDI_TOLERATIONS,
            capabilities=_GAUDI_CAPS,
            dtype="bfloat16",
            extra_args=("--enforce-eager",),
            env=_GAUDI_ENV,
            runtime_class="habana",
            image_follows_plan=False,
        ),
    }
)


def profile_for(plan: Plan, options: Options) -> tuple[Profile, str]:
    """The profile to render and why it was chosen."""
    if options.platform:
        return PROFILES[options.platform], "you asked for it (--platform)"
    if plan.gpu_resource == "habana.ai/gaudi":
        name = "gaudi3" if "3" in plan.gpu else "gaudi"
        return PROFILES[name], f"the plan's GPU is {plan.gpu}"
    if plan.gpu_resource == "nvidia.com/gpu":
        return PROFILES["nvidia"], f"the plan's GPU is an NVIDIA {plan.gpu}"
    raise InvalidInputError(
        f"KServe has no platform profile for {plan.gpu} ({plan.gpu_resource}).",
        hint="Pick an NVIDIA or Intel Gaudi GPU, or set `serving.platform` (nvidia, xeon, "
        "gaudi or gaudi3).",
    )


def image(plan: Plan, options: Options, profile: Profile) -> str:
    if options.image:
        return options.image
    if profile.image is None:
        return engine.image(plan)
    return profile.image.format(version=plan.engine_version)


def engine_args(plan: Plan, profile: Profile, *, port: int = PORT) -> list[str]:
    """The plan's ``vllm serve`` flags, adjusted to what the platform runs."""
    args = engine.args(plan, port=port)
    if profile.name == "nvidia":
        return args
    for flag in ("--kv-cache-dtype", "--quantization"):  # CUDA kernels the plan picked
        _drop(args, flag)
    if profile.on_cpu:
        _drop(args, "--gpu-memory-utilization")
        _drop(args, "--pipeline-parallel-size")
        _set(args, "--tensor-parallel-size", "1")
    if profile.dtype:
        _set(args, "--dtype", profile.dtype)
    return [*args, *profile.extra_args]


def _drop(args: list[str], flag: str) -> None:
    if flag in args:
        i = args.index(flag)
        del args[i : i + 2]


def _set(args: list[str], flag: str, value: str) -> None:
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]


def resources(plan: Plan, profile: Profile) -> dict[str, Any]:
    """Requests and limits: the plan's for NVIDIA, the profile's floor for Intel."""
    if profile.cpu is None or profile.memory_gib is None:
        return pods.resources(plan)
    need = _cpu_memory_need_gib(plan) if profile.on_cpu else _memory_need_gib(plan)
    request = max(profile.memory_gib[0], need)
    limit = max(profile.memory_gib[1], request)
    out: dict[str, Any] = {
        "requests": {"cpu": str(profile.cpu[0]), "memory": f"{request}Gi"},
        "limits": {"cpu": str(profile.cpu[1]), "memory": f"{limit}Gi"},
    }
    if profile.accelerator:
        count = str(pods.gpus_per_pod(plan))
        out["requests"][profile.accelerator] = count
        out["limits"][profile.accelerator] = count
    return out


def _memory_need_gib(plan: Plan) -> int:
    return int(pods.resources(plan)["requests"]["memory"].removesuffix("Gi"))


def _cpu_memory_need_gib(plan: Plan) -> int:
    """All weights plus the smallest KV space and headroom live in the pod's own memory."""
    return math.ceil(plan.model_gib) + CPU_KV_FLOOR_GIB + CPU_HEADROOM_GIB


def cpu_kv_space_gib(plan: Plan, profile: Profile) -> int:
    """``VLLM_CPU_KVCACHE_SPACE``: what the memory limit leaves after weights and headroom."""
    limit = int(resources(plan, profile)["limits"]["memory"].removesuffix("Gi"))
    return max(CPU_KV_FLOOR_GIB, limit - math.ceil(plan.model_gib) - CPU_HEADROOM_GIB)


def placement(plan: Plan, profile: Profile) -> dict[str, Any]:
    """Where the pods go: the plan's GPU nodes for NVIDIA, the profile's nodes otherwise."""
    if profile.node_selector is None or profile.tolerations is None:
        return pods.placement(plan)
    out: dict[str, Any] = {"nodeSelector": dict(profile.node_selector)}
    if profile.tolerations:
        out["tolerations"] = [dict(t) for t in profile.tolerations]
    if profile.runtime_class:
        out["runtimeClassName"] = profile.runtime_class
    return out


def plan_env(plan: Plan, profile: Profile) -> list[dict[str, Any]]:
    """Environment the plan decides on this platform (the profile's own is in the runtime)."""
    if not profile.on_cpu:
        return []
    return [{"name": "VLLM_CPU_KVCACHE_SPACE", "value": str(cpu_kv_space_gib(plan, profile))}]


def security_context(profile: Profile) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if profile.capabilities:
        caps["add"] = list(profile.capabilities)
    return {"allowPrivilegeEscalation": False, "capabilities": caps}


def runtime_spec(*, image_ref: str, profile: Profile) -> dict[str, Any]:
    """A (Cluster)ServingRuntime spec: the platform's container, without any model in it."""
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image_ref,
        "command": ["vllm", "serve"],
        "env": [{"name": k, "value": v} for k, v in profile.env.items()],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "securityContext": security_context(profile),
        "volumeMounts": [{"name": pods.SHM_VOLUME, "mountPath": "/dev/shm"}],
    }
    if not container["env"]:
        del container["env"]
    return {
        "annotations": {
            "prometheus.kserve.io/port": str(PORT),
            "prometheus.kserve.io/path": "/metrics",
        },
        "supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": False}],
        "multiModel": False,
        "containers": [container],
        "volumes": [
            {
                "name": pods.SHM_VOLUME,
                "emptyDir": {"medium": "Memory", "sizeLimit": f"{engine.SHM_GIB}Gi"},
            }
        ],
    }


def cluster_runtime_name(profile: Profile) -> str:
    return f"kubefoundry-vllm-{profile.name}"


def cluster_serving_runtime(
    platform: Platform, *, vllm_version: str, image_ref: str | None = None
) -> Manifest:
    """A ClusterServingRuntime for one platform, installed once per cluster by an admin.

    Not tied to any deployment (no deployment label): every InferenceService on that platform
    may reference it by name instead of carrying its own ServingRuntime.
    """
    profile = PROFILES[platform]
    if image_ref is None:
        template = profile.image or f"{engine.VLLM_IMAGE}:v{{version}}"
        image_ref = template.format(version=vllm_version)
    name = cluster_runtime_name(profile)
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/component": "serving-runtime",
                "app.kubernetes.io/managed-by": "kubefoundry",
                "app.kubernetes.io/part-of": "kubefoundry",
            },
            "annotations": {"serving.kserve.io/server-type": "vllmserver"},
        },
        "spec": runtime_spec(image_ref=image_ref, profile=profile),
    }


def warnings(plan: Plan, options: Options, profile: Profile) -> list[Said | str]:
    """What an Intel profile serves differently from the plan, stated from the predictor's
    own args and resources (the InferenceService is named after the plan)."""
    if profile.name == "nvidia":
        return []
    model = At("InferenceService", plan.name, ("spec", "predictor", "model"))
    tp = Claim(
        int(_arg(engine_args(plan, profile), "--tensor-parallel-size")),
        dataclasses.replace(model, path=(*model.path, "args", After("--tensor-parallel-size"))),
        "tensor parallel {}",
    )
    if profile.on_cpu:
        layout, stated = f"serves the whole model from one pod's memory with {tp}", [tp]
    else:
        count = Claim(
            pods.gpus_per_pod(plan),
            dataclasses.replace(
                model, path=(*model.path, "resources", "limits", str(profile.accelerator))
            ),
            f"{{}} {profile.accelerator}",
        )
        layout, stated = f"shards it over {count} per pod with {tp}", [tp, count]
    out: list[Said | str] = [
        claims.said(
            f"The memory plan (context {plan.max_model_len:,}, KV capacity, GPU count) was "
            f"computed for {plan.gpu_count}×{plan.gpu}; the {profile.title} profile keeps the "
            f"context and {layout}. Check the first start's logs for KV cache capacity.",
            *stated,
        )
    ]
    if not profile.image_follows_plan and not options.image:
        out.append(
            f"The {profile.name} image ships its own vLLM build, not vLLM {plan.engine_version}; "
            "pin a tested tag with --image."
        )
    return out


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]
