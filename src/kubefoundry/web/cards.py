"""What the model page shows for one tier: the plan's figures, worded for a card, or the
misfit with the fixes the planner checked. Plain data for the templates; no HTTP here."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping
from typing import Any

from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.planning.plans import Plan

PINS = ("gpu", "gpu_count", "quantization", "kv_cache_dtype", "context_length", "cloud")


@dataclasses.dataclass(frozen=True)
class Fix:
    label: str  # "quantization fp8, gpu H200-141GB-SXM"
    href: str | None  # the model page with the fix applied; None when it is not a pin here


@dataclasses.dataclass(frozen=True)
class Card:
    tier: str
    plan: Plan | None = None
    why: str = ""  # the GPU decision's reason
    alternatives: tuple[tuple[str, str], ...] = ()  # (option, why not)
    misfit: str | None = None
    hint: str | None = None
    fixes: tuple[Fix, ...] = ()


def planned(tier: str, plan: Plan) -> Card:
    gpu = next((d for d in plan.decisions if d.topic == "gpu"), None)
    return Card(
        tier=tier,
        plan=plan,
        why=gpu.reason if gpu else "",
        alternatives=tuple((a.option, a.why_not) for a in gpu.alternatives[:3]) if gpu else (),
    )


def misfit(tier: str, error: DoesNotFitError, *, path: str, query: Mapping[str, str]) -> Card:
    return Card(
        tier=tier,
        misfit=error.message,
        hint=error.hint,
        fixes=tuple(_fix(f, path=path, query=query) for f in error.fixes),
    )


def _fix(changes: Mapping[str, object], *, path: str, query: Mapping[str, str]) -> Fix:
    label = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
    if not set(changes) <= set(PINS):
        return Fix(label=label, href=None)
    merged = {**query, **{k: str(v) for k, v in changes.items()}}
    return Fix(label=label, href=f"{path}?{urllib.parse.urlencode(merged)}")


def money(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"${value:,.{digits}f}"


def number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def filters() -> dict[str, Any]:
    """The template filters these pages word figures with."""
    return {"money": money, "number": number}
