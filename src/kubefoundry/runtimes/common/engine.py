"""The vLLM engine, the same in every runtime: image, arguments and environment.

Each argument comes from one field of the plan; no runtime types a value twice.
"""

from __future__ import annotations

from typing import Any

from kubefoundry.core.errors import InvalidInputError
from kubefoundry.planning.plans import Plan

PORT = 8000
CACHE_PATH = "/models"
SHM_GIB = 16
VLLM_IMAGE = "vllm/vllm-openai"


def image(plan: Plan, override: str | None = None) -> str:
    return override or f"{VLLM_IMAGE}:v{plan.engine_version}"


def image_tag(ref: str) -> str:
    """The tag of an image reference (``repo:tag`` or ``repo@sha``; "" when none)."""
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1].split("@")[0] if ":" in last else ""


def served_name(plan: Plan) -> str:
    return plan.model_id


def args(plan: Plan, *, port: int = PORT, distributed: str | None = None) -> list[str]:
    """``vllm serve`` flags for ``plan`` (without the model, which callers place)."""
    out = [
        "--served-model-name",
        served_name(plan),
        "--port",
        str(port),
        "--tensor-parallel-size",
        str(plan.tensor_parallel),
    ]
    if plan.pipeline_parallel > 1:
        out += ["--pipeline-parallel-size", str(plan.pipeline_parallel)]
    if distributed:
        out += ["--distributed-executor-backend", distributed]
    out += [
        "--max-model-len",
        str(plan.max_model_len),
        "--gpu-memory-utilization",
        f"{plan.gpu_memory_utilization:g}",
        "--dtype",
        _DTYPE_FLAG.get(plan.dtype, "auto"),
    ]
    if plan.kv_cache_dtype != "auto":
        out += ["--kv-cache-dtype", plan.kv_cache_dtype]
    out.append("--enable-prefix-caching" if plan.prefix_caching else "--no-enable-prefix-caching")
    if plan.performance_mode:  # the tier's intent, on releases that have the flag (0.17+)
        out += ["--performance-mode", plan.performance_mode]
    out += quantization_args(plan)
    return out


def quantization_args(plan: Plan) -> list[str]:
    """``--quantization`` only when the engine quantizes on load; checkpoints say their own."""
    if not plan.quantize_at_load or plan.quantization is None:
        return []
    if plan.quantization != "fp8":
        raise InvalidInputError(
            f"vLLM quantizes an unquantized checkpoint on load only to fp8, not "
            f"{plan.quantization}.",
            hint="Use `quantization` fp8, or pick a checkpoint already quantized "
            f"as {plan.quantization} (for example an AWQ or GPTQ repository).",
        )
    return ["--quantization", "fp8"]


_DTYPE_FLAG = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def env(plan: Plan, *, token_env: list[dict[str, Any]], cache: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [*token_env]
    if cache:
        out.append({"name": "HF_HOME", "value": CACHE_PATH})
    out.append({"name": "VLLM_NO_USAGE_STATS", "value": "1"})
    return out
