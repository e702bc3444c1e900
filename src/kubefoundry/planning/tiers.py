"""Good / Better / Best: the tier policy, loaded from ``planning/data/tiers.yaml``."""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Literal

from kubefoundry.core import files
from kubefoundry.core.errors import NotFoundError
from kubefoundry.core.naming import suggest

MAX_CONTEXT_CAP = 131072
Objective = Literal["cost", "balanced", "latency"]


@dataclasses.dataclass(frozen=True)
class Tier:
    name: str
    summary: str
    objective: Objective
    performance_mode: Literal["throughput", "balanced", "interactivity"]
    context_target: int | None  # None: the model's native context (capped)
    context_floor: int
    target_factor: float  # scales the workload profile's latency targets
    default_concurrency: int  # peak requests in flight when the request gives no load
    load_share: float  # share of its in-target load a replica is planned to carry
    replicas: int  # minimum
    spare_replicas: int  # on top of what the peak needs
    max_replicas: int
    scale_to_zero: bool
    gpu_memory_utilization: float
    kv_cache_dtype: Literal["auto", "fp8-if-supported"]
    allow_quantization: Literal["none", "fp8"]
    prefix_caching: bool
    utilisation_for_cost: float

    def target_context(self, model_max: int) -> int:
        cap = min(model_max, MAX_CONTEXT_CAP)
        return cap if self.context_target is None else min(self.context_target, cap)

    def floor_context(self, model_max: int) -> int:
        return min(self.context_floor, self.target_context(model_max))


@functools.cache
def all_tiers() -> tuple[Tier, ...]:
    text = resources.files("kubefoundry.planning").joinpath("data/tiers.yaml").read_text()
    raw = files.parse_yaml(text)
    tiers = []
    for entry in raw["tiers"]:
        target = entry.pop("context_target")
        tiers.append(Tier(context_target=None if target == "max" else int(target), **entry))
    return tuple(tiers)


def get(name: str) -> Tier:
    for tier in all_tiers():
        if tier.name == name.lower():
            return tier
    names = [t.name for t in all_tiers()]
    raise NotFoundError(
        kind="tier",
        name=name,
        suggestions=suggest(name, names),
        hint="Tiers: " + ", ".join(names) + ".",
    )
