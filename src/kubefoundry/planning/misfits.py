"""A request that does not fit: the option that came closest, what it lacks, and the fixes.

The planner hands a :class:`Misfit` to ``fixing.find`` (which re-plans changed requests) and
then to :func:`error`, which words both for people. The shortfall is the memory really
missing on a GPU: its share of the weights, the start-up peaks and the KV cache of the tier's
concurrent requests, against what vLLM may use of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from kubefoundry.catalog.models import ModelEntry
from kubefoundry.core.errors import DoesNotFitError
from kubefoundry.core.spec import DeploymentSpec
from kubefoundry.planning import explaining, placement
from kubefoundry.planning.plans import Alternative, Plan


@dataclasses.dataclass(frozen=True)
class Misfit:
    """Everything the planner tried for one request, none of which fits."""

    request: DeploymentSpec
    model: ModelEntry
    sizing: placement.Sizing
    options: tuple[placement.Option, ...]
    unavailable: tuple[Alternative, ...]

    @property
    def closest(self) -> placement.Option | None:
        """The option that came closest: one that can run at all, with the least missing."""
        if not self.options:
            return None
        return min(self.options, key=lambda o: (bool(o.problems), o.shortfall_gib, o.gpu_count))


@dataclasses.dataclass(frozen=True)
class Fix:
    """Request fields to change (field → value) and the plan the changed request gets."""

    changes: tuple[tuple[str, object], ...]
    plan: Plan
    keeps_gpu: bool  # False when it moves off a pinned GPU type


@dataclasses.dataclass(frozen=True)
class Fixes:
    """What ``fixing.find`` found, and why nothing keeps a pinned GPU when nothing does."""

    found: tuple[Fix, ...]
    pinned_gpu_note: str | None = None
    tried: str = ""


def apply(request: DeploymentSpec, changes: Mapping[str, object]) -> DeploymentSpec:
    """The request with ``changes`` laid over it, validated like a request from the user."""
    return DeploymentSpec.model_validate({**request.model_dump(), **changes})


def change(field: str, value: object) -> str:
    """A change in the spec's words, `` `gpu_count` 8 ``: the CLI prints the field as its flag,
    the API and the pages as they are (``fixes`` carries the same change as data)."""
    return f"`{field}` {value}"


def describe_plan(plan: Plan) -> str:
    """What a fix leads to, short enough for one line of a hint."""
    layout = f"TP {plan.tensor_parallel} × PP {plan.pipeline_parallel}"
    if plan.nodes_per_replica > 1:
        layout += f" on {plan.nodes_per_replica} nodes"
    parts = [f"{plan.gpu_count}×{plan.gpu}", layout, f"{plan.max_model_len:,} tokens"]
    if plan.quantization:
        parts.append(f"{plan.quantization} weights")
    if plan.kv_cache_dtype == "fp8":
        parts.append("fp8 KV cache")
    price = plan.cost.usd_per_hour_replica
    parts.append("no price" if price is None else f"${price:,.2f}/h per replica")
    return ", ".join(parts)


def error(misfit: Misfit, fixes: Fixes) -> DoesNotFitError:
    message = _message(misfit)
    note = fixes.pinned_gpu_note
    if note is not None:
        keeps = f"No fix keeps `gpu` {misfit.request.gpu}"
        message += f" {keeps}." if note in message else f" {keeps}: {note}."
    return DoesNotFitError(
        message,
        hint=_hint(fixes),
        fixes=tuple(dict(f.changes) for f in fixes.found),
    )


def _message(misfit: Misfit) -> str:
    model, sizing, worst = misfit.model, misfit.sizing, misfit.closest
    if worst is None:
        reasons = _reasons(misfit.unavailable) or "no GPU offers"
        return f"No GPU can be planned for {model.id}: {reasons}."
    where = explaining.describe(worst)
    if worst.shortfall is None:
        return f"{model.name} cannot run on {where}: " + "; ".join(worst.problems) + "."
    message = (
        f"{model.name} does not fit on {where}, not even one request of "
        f"{sizing.floor_context:,} tokens: "
        f"{explaining.shortfall_text(worst)}."
    )
    if worst.problems:
        message += " Also: " + "; ".join(worst.problems) + "."
    return message


def _hint(fixes: Fixes) -> str:
    if not fixes.found:
        return f"No fix found: {fixes.tried}."
    return (
        "Try: "
        + "; or ".join(
            " ".join(change(k, v) for k, v in fix.changes) + f" ({describe_plan(fix.plan)})"
            for fix in fixes.found
        )
        + "."
    )


def _reasons(unavailable: Sequence[Alternative]) -> str:
    return "; ".join(f"{a.option}: {a.why_not}" for a in unavailable)
