"""The planner's memory and start-up models, applied to what a manifest asks for."""

from __future__ import annotations

import dataclasses

from kubefoundry.catalog.gpus import GPU
from kubefoundry.catalog.models import ModelEntry
from kubefoundry.checks.engines import EngineArgs
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.planning import engine_profiles, memory, parallelism, precision, probes, weights

DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default


@dataclasses.dataclass(frozen=True)
class Fit:
    estimate: memory.MemoryEstimate
    inputs: memory.MemoryInputs

    @property
    def max_context(self) -> int:
        return self.estimate.max_context_fits


def fit(
    model: ModelEntry,
    gpu: GPU,
    engine: EngineArgs,
    *,
    max_model_len: int,
    tp: int | None = None,
    default_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
) -> Fit | None:
    """vLLM's start-up budget for these settings; None when vLLM would refuse them anyway."""
    arch = model.arch
    flags = engine.flags
    try:
        quant = precision.resolve_quantization(flags.get("quantization") or None, arch)
        dtype = precision.resolve_dtype(
            _dtype(flags.get("dtype")), arch, bf16_supported=gpu.bf16_supported
        )
        tp = tp or engine.tp or 1
        pp = engine.pp or 1
        if parallelism.tp_problems(arch, tp, quant) or parallelism.pp_problems(arch, pp):
            return None
        inputs = memory.MemoryInputs(
            gpu_total_gib=gpu.cuda_total_gib,
            tp=tp,
            pp=pp,
            gpu_memory_utilization=engine.gpu_memory_utilization or default_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            quantization=quant,
            kv_cache_dtype="fp8"
            if (flags.get("kv-cache-dtype") or "").startswith("fp8")
            else "auto",
            vllm_version=engine.vllm_version or engine_profiles.DEFAULT_VLLM_VERSION,
            gpu_name=gpu.id,
        )
        return Fit(estimate=memory.estimate(arch, inputs), inputs=inputs)
    except (KubeFoundryError, KeyError, ValueError, ZeroDivisionError):
        return None


def _dtype(flag: str | None) -> str:
    return {
        "bfloat16": "bf16",
        "float16": "fp16",
        "half": "fp16",
        "float32": "fp32",
        "float": "fp32",
    }.get((flag or "auto").lower(), (flag or "auto").lower())


def model_bytes(model: ModelEntry) -> float:
    """Bytes of the checkpoint's weights (what is downloaded and loaded)."""
    arch = model.arch
    dtype = precision.resolve_dtype("auto", arch)
    stages = weights.per_gpu(arch, tp=1, pp=1, dtype=dtype, quantization=arch.quantization)
    return sum(s.total for s in stages)


@dataclasses.dataclass(frozen=True)
class StartTimes:
    """Seconds from container start (image already pulled) to serving."""

    warm_s: int  # weights already cached: load + engine warm-up
    cold_s: int  # plus the download, unless the runtime fetched the weights beforehand

    def recommended_threshold(self, period_s: int) -> int:
        return max(30, -(-int(self.cold_s * probes.SAFETY) // max(1, period_s)))


def start_times(model: ModelEntry, *, fetched_before_start: bool) -> StartTimes:
    plan = probes.plan_probes(model_bytes=model_bytes(model))
    warm = plan.warm_start_s - probes.IMAGE_PULL_S  # probes only start once the image is pulled
    cold = warm if fetched_before_start else plan.cold_start_s - probes.IMAGE_PULL_S
    return StartTimes(warm_s=warm, cold_s=cold)


def round_down(tokens: int) -> int:
    """A tidy ``--max-model-len`` at or below ``tokens``: a multiple of 1024 (or 256)."""
    step = 1024 if tokens >= 4096 else 256
    return max(step, tokens // step * step) if tokens >= step else tokens
