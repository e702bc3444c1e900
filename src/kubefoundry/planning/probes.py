"""Probe timings that never kill a loading model.

The startup probe's budget covers the slowest plausible start: pulling the image, fetching
the weights (from the hub on a cold cache, from the cache volume on a warm one), loading them
into GPU memory, profiling and capturing CUDA graphs; times a safety factor. Liveness and
readiness only begin once the startup probe has passed, so they can be strict.
"""

from __future__ import annotations

import dataclasses
import math

IMAGE_PULL_S = 180  # vLLM images are ~10 GB; first pull on a fresh node
DOWNLOAD_BYTES_PER_S = 100e6  # sustained hub download, cold cache
LOAD_BYTES_PER_S = 1.0e9  # safetensors from a network volume into GPU memory, per replica
ENGINE_WARMUP_S = 120  # torch.compile, profiling run, CUDA-graph capture
SAFETY = 1.5
PERIOD_S = 10


@dataclasses.dataclass(frozen=True)
class ProbePlan:
    path: str
    port: int
    startup_period_s: int
    startup_failure_threshold: int
    readiness_period_s: int
    readiness_failure_threshold: int
    liveness_period_s: int
    liveness_failure_threshold: int
    cold_start_s: int  # expected start on a cold cache (before the safety factor)
    warm_start_s: int  # expected start with the model already cached

    @property
    def startup_budget_s(self) -> int:
        return self.startup_period_s * self.startup_failure_threshold


def plan_probes(*, model_bytes: float, port: int = 8000, path: str = "/health") -> ProbePlan:
    load = model_bytes / LOAD_BYTES_PER_S
    warm = IMAGE_PULL_S + load + ENGINE_WARMUP_S
    cold = warm + model_bytes / DOWNLOAD_BYTES_PER_S
    budget = cold * SAFETY
    return ProbePlan(
        path=path,
        port=port,
        startup_period_s=PERIOD_S,
        startup_failure_threshold=max(30, math.ceil(budget / PERIOD_S)),
        readiness_period_s=10,
        readiness_failure_threshold=3,
        liveness_period_s=30,
        liveness_failure_threshold=5,
        cold_start_s=round(cold),
        warm_start_s=round(warm),
    )
